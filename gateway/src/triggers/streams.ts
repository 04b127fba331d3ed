import { type FunctionSpec, ThawError, type Trigger } from '@thaw/shared';
import type { NatsConnection, StreamConfig } from 'nats';
import { refusedStreamName, subjectsOverlap } from './check.js';

/**
 * Why a JetStream trigger may not read a stream so configured, or undefined: its name (see
 * refusedStreamName), a subject it keeps that could be one of NATS itself ($..., _INBOX...) or
 * thaw's own (`<prefix>.>`), or a mirror or source of a stream refused by name. What a mirror or
 * source copies, and what a stream kept before, is not known here: the trigger checks each
 * message's subject too (guard.ts).
 */
export function streamRefusal(
  config: Pick<StreamConfig, 'name' | 'subjects' | 'mirror' | 'sources'>,
  prefix: string,
): string | undefined {
  const byName = refusedStreamName(config.name, prefix);
  if (byName) return byName;
  for (const s of config.subjects ?? []) {
    const first = s.split('.')[0] ?? '';
    if (first.startsWith('$') || first.startsWith('_INBOX') || first === '*' || first === '>') {
      return `stream "${config.name}" keeps "${s}", which covers subjects of NATS itself ($..., _INBOX...)`;
    }
    if (subjectsOverlap(s, `${prefix}.>`)) {
      return `stream "${config.name}" keeps "${s}", which covers thaw's own subjects ("${prefix}.>")`;
    }
  }
  for (const from of [config.mirror, ...(config.sources ?? [])]) {
    const why = from && refusedStreamName(from.name, prefix);
    if (why) return `stream "${config.name}" copies another: ${why}`;
  }
  return undefined;
}

/**
 * Why a trigger's results may not go to its replySubject on a stream so configured: without a
 * filterSubject the trigger reads all the stream keeps, so a replySubject kept there would call
 * the function again for each result (with one, checkTriggers compares the two).
 */
export function replyRefusal(
  config: Pick<StreamConfig, 'name' | 'subjects'>,
  t: Pick<JetStreamTriggerSpec, 'filterSubject' | 'replySubject'>,
): string | undefined {
  if (t.replySubject === undefined || t.filterSubject !== undefined) return undefined;
  const kept = (config.subjects ?? []).find((s) => subjectsOverlap(t.replySubject as string, s));
  if (kept === undefined) return undefined;
  return `"${t.replySubject}" is kept by stream "${config.name}" ("${kept}"), which the trigger reads; each result would call the function again`;
}

type JetStreamTriggerSpec = Extract<Trigger, { type: 'jetstream' }>;

/**
 * `stream`'s settings now, or undefined when it does not exist yet, or JetStream is off (the
 * trigger waits for it and checks it again when it appears).
 */
export async function currentStream(nc: NatsConnection, stream: string): Promise<StreamConfig | undefined> {
  const jsm = await nc.jetstreamManager({ checkAPI: false });
  const info = await jsm.streams.info(stream).catch((err: Error) => {
    if (/not found|not enabled|no responders|503/i.test(err.message)) return undefined;
    throw err;
  });
  return info?.config;
}

/** Why the trigger may not read `stream` as it is now, or undefined (also when it does not exist). */
export async function currentStreamRefusal(
  nc: NatsConnection,
  stream: string,
  prefix: string,
): Promise<string | undefined> {
  const config = await currentStream(nc, stream);
  return config && streamRefusal(config, prefix);
}

/**
 * At deploy and update: refuses (VALIDATION_FAILED) a JetStream trigger on a stream that exists
 * and is refused (streamRefusal), or whose replySubject it keeps (replyRefusal). A NATS that cannot be asked does not fail the deploy: every
 * gateway checks again before it reads.
 */
export async function checkTriggerStreams(
  spec: Pick<FunctionSpec, 'triggers'>,
  prefix: string,
  nc: NatsConnection,
): Promise<void> {
  for (const [i, t] of spec.triggers.entries()) {
    if (t.type !== 'jetstream') continue;
    const config = await currentStream(nc, t.stream).catch(() => undefined);
    if (!config) continue;
    const why = streamRefusal(config, prefix);
    if (why) {
      throw new ThawError(
        'VALIDATION_FAILED',
        `triggers[${i}].stream: ${why}; a trigger reads streams of the application only`,
      );
    }
    const loop = replyRefusal(config, t);
    if (loop) throw new ThawError('VALIDATION_FAILED', `triggers[${i}].replySubject: ${loop}`);
  }
}
