import { type LogEntry, LogsReply, type Subjects, ThawError } from '@thaw/shared';
import type { FastifyInstance } from 'fastify';
import { JSONCodec, type NatsConnection, RequestStrategy } from 'nats';
import type { ClusterView } from '../cluster/view.js';
import type { FunctionStore } from '../store/functions.js';

const json = JSONCodec<unknown>();
const MAX_LINES = 10_000;
const FOLLOW_BUFFER_BYTES = 4 * 1024 * 1024;
const DEFAULT_LINES = 1000;
/** How long the workers' answers are waited for (a worker gone since its last heartbeat never answers). */
const GATHER_WAIT_MS = 2000;

export interface LogDeps {
  nc: NatsConnection;
  subjects: Subjects;
  functions: FunctionStore;
  view: ClusterView;
}

/** `since`: an ISO 8601 time, or a duration back from now (`30s`, `5m`, `2h`, `1d`). */
export function parseSince(since: string | undefined, now = Date.now()): number {
  if (!since) return 0;
  const rel = /^(\d+)(s|m|h|d)$/.exec(since);
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return now - Number(rel[1]) * unit;
  }
  const t = Date.parse(since);
  if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}/.test(since)) {
    throw new ThawError(
      'VALIDATION_FAILED',
      `since: "${since}" is neither an ISO 8601 time nor a duration such as 30s, 5m, 2h or 1d`,
    );
  }
  return t;
}

function format(e: LogEntry, as: 'text' | 'json'): string {
  if (as === 'json') return `${JSON.stringify(e)}\n`;
  return `${e.t} ${e.instance.slice(0, 12)} ${e.stream}: ${e.line}\n`;
}

/**
 * `GET /v1/functions/:name/logs?since=&limit=&follow=1&format=text|json`: the function's recent
 * stdout and stderr lines from every worker, merged by time; with `follow`, the answer stays
 * open and new lines are streamed as the workers read them.
 */
export async function logRoutes(app: FastifyInstance, d: LogDeps): Promise<void> {
  // Open follow streams: ended before the server closes, which would otherwise wait for them.
  const following = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const stop of following) stop();
    following.clear();
  });
  app.get<{ Params: { name: string }; Querystring: Record<string, string | undefined> }>(
    '/v1/functions/:name/logs',
    async (req, reply) => {
      const { name } = req.params;
      await d.functions.require(name, { fresh: true });
      const since = parseSince(req.query.since);
      const limit = Number(req.query.limit ?? DEFAULT_LINES);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LINES) {
        throw new ThawError('VALIDATION_FAILED', `limit: must be a whole number from 1 to ${MAX_LINES}`);
      }
      const as = req.query.format === 'json' ? 'json' : 'text';
      if (req.query.format && !['json', 'text'].includes(req.query.format)) {
        throw new ThawError('VALIDATION_FAILED', 'format: must be text or json');
      }
      const follow = req.query.follow === '1' || req.query.follow === 'true';

      // Subscribed before the history is asked for, so no line falls between the two.
      const live: LogEntry[][] = [];
      let push: ((entries: LogEntry[]) => void) | undefined;
      const sub = follow
        ? d.nc.subscribe(d.subjects.logsLive(name), {
            callback: (_e, m) => {
              const entries = json.decode(m.data) as LogEntry[];
              if (push) push(entries);
              else live.push(entries);
            },
          })
        : undefined;

      // A client gone while the history is gathered must not leave the subscription behind.
      let gone = false;
      req.raw.once('close', () => {
        gone = true;
        sub?.unsubscribe();
      });
      const history = await gather(d, name, since, limit);
      if (gone) return reply.hijack();
      void reply.header('content-type', as === 'json' ? 'application/x-ndjson' : 'text/plain; charset=utf-8');
      if (!follow) return reply.send(history.map((e) => format(e, as)).join(''));

      // Streamed on the raw response: headers go out at once, lines as they come.
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': as === 'json' ? 'application/x-ndjson' : 'text/plain; charset=utf-8',
        'cache-control': 'no-store',
      });
      res.flushHeaders();
      // The newest line each instance had in the history: live copies of it are skipped.
      const seen = new Map<string, string>();
      for (const e of history) {
        res.write(format(e, as));
        seen.set(e.instance, e.t);
      }
      push = (entries) => {
        // A follower that does not read: past 4 MiB waiting, it is told and cut off.
        if (res.writableLength > FOLLOW_BUFFER_BYTES) {
          res.end('[thaw: this follower fell too far behind; reconnect with since=...]\n');
          stop();
          return;
        }
        for (const e of entries) {
          const last = seen.get(e.instance);
          if (last !== undefined && e.t <= last) continue;
          res.write(format(e, as));
        }
      };
      const stop = () => {
        following.delete(stop);
        sub?.unsubscribe();
        if (!res.writableEnded) res.end();
      };
      for (const batch of live.splice(0)) push(batch);
      following.add(stop);
      req.raw.once('close', stop);
      return reply;
    },
  );
}

/** Asks every live worker for the lines; each answers, with nothing when it holds none. */
async function gather(d: LogDeps, name: string, since: number, limit: number): Promise<LogEntry[]> {
  const workers = d.view.list().length;
  const entries: LogEntry[] = [];
  if (workers > 0) {
    try {
      const replies = await d.nc.requestMany(d.subjects.logs(name), json.encode({ since, limit }), {
        strategy: RequestStrategy.Count,
        maxMessages: workers,
        maxWait: GATHER_WAIT_MS,
      });
      for await (const m of replies) {
        const parsed = LogsReply.safeParse(json.decode(m.data));
        if (parsed.success) entries.push(...parsed.data.entries);
      }
    } catch {
      // No worker answered (all gone since their last heartbeat): no lines.
    }
  }
  entries.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
  return entries.slice(-limit);
}
