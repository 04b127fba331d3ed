import {
  createLogger,
  FunctionRecord,
  type ImageSource,
  type PlaceReply,
  ThawError,
  type WorkerHeartbeat,
} from '@thaw/shared';
import { describe, expect, it } from 'vitest';
import { Placer, type PlacerOptions } from '../../src/placement/placer.js';

const log = createLogger('placer-test', 'silent');
const image: ImageSource = { kind: 'registry', reference: 'example.com/x:1' };
const record = (name: string, extra: Partial<FunctionRecord> = {}) =>
  FunctionRecord.parse({ name, image: 'example.com/x:1', createdAt: 'now', updatedAt: 'now', ...extra });

function heartbeat(workerId: string, freeMiB: number, extra: Partial<WorkerHeartbeat> = {}): WorkerHeartbeat {
  return {
    workerId,
    intervalMs: 500,
    draining: false,
    memory: { budgetMiB: 4000, committedMiB: 4000 - freeMiB },
    functions: [],
    ...extra,
  };
}

/** A Placer over fakes: heartbeats as given, a client that records where it was asked to place. */
function setup(o: {
  beats?: WorkerHeartbeat[];
  stored?: FunctionRecord;
  reply?: (to?: string) => PlaceReply;
}) {
  const sent: (string | undefined)[] = [];
  const clock = { now: 1_000_000 };
  const opts: PlacerOptions = {
    view: { live: () => o.beats ?? [] },
    client: {
      place: async (_fn, _image, to) => {
        sent.push(to);
        if (to === 'gone') throw new ThawError('NO_WORKER', 'no worker is connected');
        await Promise.resolve(); // answered later, as over NATS
        return o.reply?.(to) ?? { ok: true, workerId: to ?? 'any', digest: 'sha256:d' };
      },
    },
    functions: { get: async () => o.stored },
    images: { sourceOf: async () => image },
    log,
    now: () => clock.now,
  };
  return { placer: new Placer(opts), sent, clock };
}

describe('Placer.pick', () => {
  it('takes the live, non-draining worker with most free memory that does not hold the function', () => {
    const { placer } = setup({
      beats: [
        heartbeat('w1', 1000),
        heartbeat('w2', 3000, { draining: true }),
        heartbeat('w3', 2000, { functions: [{ name: 'a', starting: 0, instances: [] }] }),
      ],
    });
    expect(placer.pick('a', 128)).toBe('w1');
    expect(placer.pick('b', 128)).toBe('w3');
    expect(placer.pick('b', 2500)).toBeUndefined();
  });
});

describe('Placer.place', () => {
  it('shares one placement among concurrent requests for the same revision', async () => {
    const { placer, sent } = setup({ beats: [heartbeat('w1', 1000)] });
    const fn = record('a');
    const [x, y] = await Promise.all([placer.place(fn, image), placer.place(fn, image)]);
    expect(x).toEqual(y);
    expect(sent).toEqual(['w1']);
  });

  it('counts a worker it placed on as holding the function before heartbeats show it', async () => {
    const { placer, clock } = setup({ beats: [heartbeat('w1', 3000), heartbeat('w2', 1000)] });
    await placer.place(record('a'), image);
    expect(placer.pick('a', 128)).toBe('w2');
    clock.now += 5_000;
    expect(placer.pick('a', 128)).toBe('w1');
  });

  it('falls back to the queue group when the chosen worker is gone, and throws a worker refusal', async () => {
    const gone = setup({ beats: [heartbeat('gone', 1000)] });
    await gone.placer.place(record('a'), image);
    expect(gone.sent).toEqual(['gone', undefined]);

    const refusing = setup({
      reply: () => ({ ok: false, error: { code: 'FUNCTION_START_FAILED', message: 'no' } }),
    });
    await expect(refusing.placer.place(record('a'), image)).rejects.toMatchObject({
      code: 'FUNCTION_START_FAILED',
    });
  });
});

describe('Placer.spread', () => {
  it('places one more worker at most once per spreadEveryMs', async () => {
    const stored = record('a');
    const { placer, sent, clock } = setup({ beats: [heartbeat('w1', 1000), heartbeat('w2', 900)], stored });
    await placer.place(stored, image, 'w1');
    placer.spread(stored);
    await new Promise((r) => setTimeout(r, 0));
    expect(sent).toEqual(['w1']);
    clock.now += 1_000;
    placer.spread(stored);
    await new Promise((r) => setTimeout(r, 0));
    expect(sent).toEqual(['w1', 'w2']);
  });
});

describe('Placer.relieve', () => {
  it('places an overloaded function on a worker with room, if any, as stored now', async () => {
    const stored = record('a', { revision: 2 });
    const { placer, sent } = setup({ beats: [heartbeat('w1', 1000)], stored });
    expect(await placer.relieve(record('a'))).toBe(true);
    expect(sent).toEqual(['w1']);
    const full = setup({ beats: [heartbeat('w1', 10)], stored });
    expect(await full.placer.relieve(record('a'))).toBe(false);
    const deleted = setup({ beats: [heartbeat('w1', 1000)] });
    expect(await deleted.placer.relieve(record('a'))).toBe(false);
  });
});
