import { type FunctionSpec, ThawError } from '@thaw/shared';
import type { NatsConnection, StreamConfig } from 'nats';
import { refusedStreamName, subjectsOverlap } from './check.js';

/**
 * Why a JetStream trigger may not read a stream so configured, or undefined: its name (see
 * refusedStreamName), a subject it keeps that could be one of NATS itself ($...) or thaw's own
 * (`<prefix>.>`), or a mirror or source of such a stream.
 */
export function streamRefusal(
  config: Pick<StreamConfig, 'name' | 'subjects' | 'mirror' | 'sources'>,
  prefix: string,
): string | undefined {
  const byName = refusedStreamName(config.name, prefix);
  if (byName) return byName;
  for (const s of config.subjects ?? []) {
    const first = s.split('.')[0] ?? '';
    if (first.startsWith('$') || first === '*' || first === '>') {
      return `stream "${config.name}" keeps "${s}", which covers subjects of NATS itself ($...)`;
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
 * Why the trigger may not read `stream` as it is now, or undefined (also when it does not exist
 * yet, or JetStream is off: the trigger waits for it and checks it again when it appears).
 */
export async function currentStreamRefusal(
  nc: NatsConnection,
  stream: string,
  prefix: string,
): Promise<string | undefined> {
  const jsm = await nc.jetstreamManager({ checkAPI: false });
  const info = await jsm.streams.info(stream).catch((err: Error) => {
    if (/not found|not enabled|no responders|503/i.test(err.message)) return undefined;
    throw err;
  });
  return info && streamRefusal(info.config, prefix);
}

/**
 * At deploy and update: refuses (VALIDATION_FAILED) a JetStream trigger on a stream that exists
 * and is refused (streamRefusal). A NATS that cannot be asked does not fail the deploy: every
 * gateway checks again before it reads.
 */
export async function checkTriggerStreams(
  spec: Pick<FunctionSpec, 'triggers'>,
  prefix: string,
  nc: NatsConnection,
): Promise<void> {
  for (const [i, t] of spec.triggers.entries()) {
    if (t.type !== 'jetstream') continue;
    const why = await currentStreamRefusal(nc, t.stream, prefix).catch(() => undefined);
    if (why) {
      throw new ThawError(
        'VALIDATION_FAILED',
        `triggers[${i}].stream: ${why}; a trigger reads streams of the application only`,
      );
    }
  }
}
