import { describe, expect, it } from 'vitest';
import { ReadyPool } from '../../src/container/prepared/ready-pool.js';

/** A pool of numbered items whose making and dropping are recorded. */
function numbered(size: number, failAt?: number) {
  let n = 0;
  const dropped: number[] = [];
  const errors: unknown[] = [];
  const pool = new ReadyPool<number>({
    size,
    make: async () => {
      n += 1;
      if (n === failAt) throw new Error(`make ${n} failed`);
      return n;
    },
    drop: async (i) => {
      dropped.push(i);
    },
    onError: (e) => errors.push(e),
  });
  return { pool, dropped, errors, made: () => n };
}

describe('a ready pool', () => {
  it('fills to its size, hands items out oldest first, and refills on request', async () => {
    const { pool, made } = numbered(2);
    expect(pool.take()).toBeUndefined();
    await pool.fill();
    expect(pool.size).toBe(2);
    expect(pool.take()).toBe(1);
    expect(pool.size).toBe(1);
    await pool.fill();
    expect(made()).toBe(3);
    expect([pool.take(), pool.take(), pool.take()]).toEqual([2, 3, undefined]);
  });

  it('runs one fill at a time: concurrent fills make the size, not more', async () => {
    const { pool, made } = numbered(3);
    await Promise.all([pool.fill(), pool.fill(), pool.fill()]);
    expect(made()).toBe(3);
  });

  it('reports a failed make and fills again next time', async () => {
    const { pool, errors } = numbered(2, 2);
    await pool.fill();
    expect(pool.size).toBe(1);
    expect(errors).toHaveLength(1);
    await pool.fill();
    expect(pool.size).toBe(2);
  });

  it('drops every ready item on close, then makes no more', async () => {
    const { pool, dropped, made } = numbered(2);
    await pool.fill();
    await pool.close();
    expect(dropped).toEqual([1, 2]);
    await pool.fill();
    expect(made()).toBe(2);
    expect(pool.take()).toBeUndefined();
  });

  it('drops an item whose making finished after close', async () => {
    const { pool, dropped } = numbered(1);
    const filling = pool.fill();
    const closing = pool.close();
    await Promise.all([filling, closing]);
    expect(dropped).toEqual([1]);
    expect(pool.size).toBe(0);
  });
});
