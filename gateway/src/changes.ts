import { FunctionRemoved, type Logger, type Subjects } from '@thaw/shared';
import { JSONCodec, type NatsConnection } from 'nats';
import type { AsyncCalls } from './async/calls.js';
import type { FunctionStore } from './store/functions.js';
import type { Triggers } from './triggers/triggers.js';

/**
 * Every gateway consumes every function's async queue and listens for its triggers: at start, on
 * changes, and this often.
 */
export const ASYNC_SYNC_EVERY_MS = 10_000;

export interface ChangesOptions {
  nc: NatsConnection;
  subjects: Subjects;
  functions: FunctionStore;
  asyncCalls: AsyncCalls;
  triggers: Pick<Triggers, 'sync'>;
  log: Logger;
}

/**
 * Follows the functions' changes made through any gateway: the cached record is dropped, and
 * the async consumers and the triggers follow the list of functions. Resolves once the first sync is done.
 */
export async function followChanges(o: ChangesOptions): Promise<{ stop(): void }> {
  const syncAsync = () =>
    o.functions
      .list()
      .then((fns) => Promise.all([o.asyncCalls.sync(fns), o.triggers.sync(fns)]))
      .catch((err: Error) => o.log.warn({ err: err.message }, 'syncing async consumers failed'));
  await syncAsync();
  const timer = setInterval(syncAsync, ASYNC_SYNC_EVERY_MS);
  timer.unref();

  // Another gateway deleted or changed a function: drop our cached copy at once.
  const json = JSONCodec<unknown>();
  const subs = [o.subjects.functionRemoved, o.subjects.functionChanged].map((subject) =>
    o.nc.subscribe(subject, {
      callback: (_err, msg) => {
        const parsed = FunctionRemoved.safeParse(json.decode(msg.data));
        if (!parsed.success) return;
        o.functions.evict(parsed.data.name);
        void syncAsync();
      },
    }),
  );
  // Evictions sent while we were disconnected from NATS are lost: start from Redis again.
  void (async () => {
    for await (const s of o.nc.status()) {
      if (s.type === 'reconnect') o.functions.flush();
    }
  })();
  return {
    stop: () => {
      for (const s of subs) s.unsubscribe();
      clearInterval(timer);
    },
  };
}
