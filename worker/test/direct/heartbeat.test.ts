/**
 * A whole worker advertises its direct link in its heartbeats (address, port, token), and the
 * link it advertises takes a hello with that token; THAW_DIRECT=off advertises none.
 */
import { FrameType, WorkerHeartbeat } from '@thaw/shared';
import { JSONCodec } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { openTestWorker, type TestWorker } from '../test-worker.js';
import { callFrame, EXPECT_WITHIN_MS, hello, RawLink } from './raw-link.js';

const json = JSONCodec<unknown>();
let open: TestWorker | undefined;
let link: RawLink | undefined;

afterEach(async () => {
  link?.destroy();
  link = undefined;
  await open?.close();
  open = undefined;
});

/** The next heartbeat the worker publishes on NATS, as gateways read it. */
async function nextBeat(w: TestWorker): Promise<WorkerHeartbeat> {
  const sub = w.nc.subscribe(w.subj.heartbeat, { max: 1, timeout: EXPECT_WITHIN_MS });
  for await (const m of sub) return WorkerHeartbeat.parse(json.decode(m.data));
  throw new Error('no heartbeat');
}

describe('the direct link in heartbeats', () => {
  it('advertises a link that takes a hello with the token, and none with THAW_DIRECT=off', async () => {
    open = await openTestWorker('s17ahb', { HEARTBEAT_MS: '100' });
    const beat = await nextBeat(open);
    expect(beat.workerId).toBe(open.worker.id);
    expect(beat.direct?.host).toBe('127.0.0.1'); // NATS is on this host
    const direct = beat.direct;
    if (!direct) throw new Error('no direct link advertised');
    link = await RawLink.open(direct.port);
    // A served link answers a call of a function this worker does not hold with `elsewhere`.
    link.send(hello(direct.token), callFrame('id-1', 'nothing-here', 'x'));
    expect(await link.next(1)).toEqual([{ type: FrameType.elsewhere, id: 'id-1' }]);
    link.destroy();
    const first = open;
    open = undefined;
    await first.close();

    open = await openTestWorker('s17ahb', { HEARTBEAT_MS: '100', THAW_DIRECT: 'off' });
    const off = await nextBeat(open);
    expect(off.workerId).toBe(open.worker.id);
    expect(off.direct).toBeUndefined();
  });
});
