import { MAX_SCHEDULES } from '@thaw/shared';
import type { Queue } from 'bullmq';
import { callIdOfJob, tickOfJob } from '../schedules/ids.js';
import { type CallJob, type CallStatus, type CallView, callView } from './records.js';

/** The most calls GET /v1/calls lists at once. */
export const MAX_LIST = 200;
/**
 * Bytes of a call's stored request or answer the list reads whole; larger ones are read with
 * their bodies left out (GET /v1/calls/:id has them), so a list costs at most about
 * MAX_LIST × 2 × this, not MAX_LIST × (request + 1 MiB answer).
 */
export const LIST_FIELD_MAX = 16 * 1024;

type State = 'waiting' | 'prioritized' | 'delayed' | 'active' | 'completed' | 'failed';

/** The BullMQ states a call of each status can be in. */
const STATES: Record<CallStatus, State[]> = {
  queued: ['waiting', 'prioritized', 'delayed'],
  running: ['active'],
  retrying: ['waiting', 'prioritized', 'delayed'],
  succeeded: ['completed'],
  dead: ['failed'],
};
const ALL: State[] = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'];

const READ_TIMESTAMPS = `
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGET', key, 'timestamp') end
return out
`;

/**
 * Per job key: its small fields, then `data` and `returnvalue`, each whole when short, else with
 * every base64 "body" emptied in Redis (the only large values they hold), and a flag saying so.
 */
const READ_JOBS = `
local out = {}
for i, key in ipairs(KEYS) do
  local f = redis.call('HMGET', key, 'timestamp', 'processedOn', 'finishedOn', 'atm', 'opts', 'failedReason')
  for _, field in ipairs({'data', 'returnvalue'}) do
    local v = redis.call('HGET', key, field)
    local cut = '0'
    if v and #v > tonumber(ARGV[1]) then
      v = string.gsub(v, '"body":"[A-Za-z0-9+/=]*"', '"body":""')
      cut = '1'
    end
    f[#f + 1] = v
    f[#f + 1] = cut
  end
  out[i] = f
end
return out
`;

type Raw = (string | null)[];
interface Found {
  id: string;
  state: State;
}

function jobOf(id: string, r: Raw): CallJob | undefined {
  const [timestamp, processedOn, finishedOn, atm, opts, failedReason, data, dataCut, rv, rvCut] = r;
  if (!timestamp || !data) return undefined;
  const parsed = JSON.parse(data) as CallJob['data'];
  const answer = rv ? (JSON.parse(rv) as CallJob['returnvalue']) : undefined;
  // A body left out reads as cut short: the whole one is in GET /v1/calls/:id.
  if (rvCut === '1' && answer) answer.truncated = true;
  if (dataCut === '1' && parsed.last) parsed.last.truncated = true;
  return {
    id,
    data: parsed,
    returnvalue: answer as CallJob['returnvalue'],
    attemptsMade: Number(atm ?? 0),
    opts: opts ? JSON.parse(opts) : {},
    timestamp: Number(timestamp),
    processedOn: processedOn ? Number(processedOn) : undefined,
    finishedOn: finishedOn ? Number(finishedOn) : undefined,
    failedReason: failedReason ?? '',
  } as CallJob;
}

/**
 * A function's calls, newest first (by creation; a tick's by its time): the newest `limit` ids
 * of each state are read, so the list is exact for the newest `limit` calls of any status; then
 * the calls themselves, newest first, `limit` at a time until `limit` are found (one read
 * unless a status is asked that only some calls of a state have).
 */
export async function listCalls(
  queue: Queue,
  fn: string,
  o: { limit: number; status?: CallStatus },
): Promise<CallView[]> {
  const states = o.status ? STATES[o.status] : ALL;
  const now = Date.now();
  const found: Found[] = [];
  const seen = new Set<string>();
  for (const state of states) {
    // The upcoming ticks (one per schedule) are among the delayed jobs: read that many more.
    const extra = state === 'delayed' ? MAX_SCHEDULES : 0;
    for (const id of await queue.getRanges([state], 0, o.limit - 1 + extra, false)) {
      // A schedule's next tick waits in the delayed set until due: it is no call yet.
      const tick = tickOfJob(id);
      if (seen.has(id) || (state === 'delayed' && tick && tick.at > now)) continue;
      seen.add(id);
      found.push({ id, state });
    }
  }
  const client = await queue.client;
  // Newest first before the reads that cost: most lists need only the first `limit` of them.
  const stamps = (await client.runCommand('eval', [
    READ_TIMESTAMPS,
    found.length,
    ...found.map((f) => queue.toKey(f.id)),
  ])) as (string | null)[];
  const created = found.map((f, i) => tickOfJob(f.id)?.at ?? Number(stamps[i] ?? 0));
  const order = found.map((_, i) => i).sort((a, b) => (created[b] ?? 0) - (created[a] ?? 0));
  const views: CallView[] = [];
  for (let at = 0; at < order.length && views.length < o.limit; at += o.limit) {
    const chunk = order.slice(at, at + o.limit).map((i) => found[i] as Found);
    const raws = (await client.runCommand('eval', [
      READ_JOBS,
      chunk.length,
      ...chunk.map((f) => queue.toKey(f.id)),
      LIST_FIELD_MAX,
    ])) as Raw[];
    chunk.forEach((f, i) => {
      const job = jobOf(f.id, raws[i] ?? []);
      if (!job) return; // removed between the reads
      const view = callView(job, f.state, fn, callIdOfJob(f.id));
      if (!o.status || view.status === o.status) views.push(view);
    });
  }
  views.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return views.slice(0, o.limit);
}
