/**
 * A worker started in-process for a test file, on a nats-server of its own and a scratch runtime:
 * its NATS connection, subjects, and a close that removes the runtime's folders too.
 */
import { rm } from 'node:fs/promises';
import { type Service, startNats, workerEnvFor } from '@thaw/devkit';
import { type RuntimeOptions, scratchRuntimeOptions } from '@thaw/runtime';
import { subjects } from '@thaw/shared';
import { connect, type NatsConnection } from 'nats';
import { loadEnv, type RunningWorker, startWorker } from '../src/index.js';

export interface TestWorker {
  rt: RuntimeOptions;
  nc: NatsConnection;
  subj: ReturnType<typeof subjects>;
  worker: RunningWorker;
  close(): Promise<void>;
}

/** `tag` names the runtime and the subject prefix; `env` adds worker settings. */
export async function openTestWorker(tag: string, env: Record<string, string> = {}): Promise<TestWorker> {
  const rt = scratchRuntimeOptions(tag);
  const prefix = `${tag}${process.pid}`;
  let nats: Service | undefined;
  let nc: NatsConnection | undefined;
  let worker: RunningWorker | undefined;
  const close = async () => {
    await worker?.close();
    await nc?.close();
    await nats?.close();
    await rm(rt.stateDir, { recursive: true, force: true });
    await rm(rt.runDir, { recursive: true, force: true });
  };
  try {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    worker = await startWorker(
      loadEnv({ NATS_URL: nats.url, THAW_PREFIX: prefix, ...workerEnvFor(rt), LOG_LEVEL: 'warn', ...env }),
    );
  } catch (err) {
    await close();
    throw err;
  }
  return { rt, nc, subj: subjects(prefix), worker, close };
}
