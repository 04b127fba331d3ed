import { describe, expect, it } from 'vitest';
import { SendBatch } from '../src/wire/batch.js';

const checkPhase = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('SendBatch', () => {
  it('makes the sends of one turn together in its check phase, in order, none before', async () => {
    const batch = new SendBatch();
    const sent: number[] = [];
    batch.add(() => sent.push(1));
    batch.add(() => sent.push(2));
    await Promise.resolve(); // microtasks run: nats.js would flush its buffer here
    expect(sent).toEqual([]);
    batch.add(() => sent.push(3));
    await checkPhase();
    expect(sent).toEqual([1, 2, 3]);
  });

  it('flush() makes the queued sends at once, once; a later send is scheduled again', async () => {
    const batch = new SendBatch();
    const sent: string[] = [];
    batch.add(() => sent.push('a'));
    batch.flush();
    expect(sent).toEqual(['a']);
    await checkPhase();
    expect(sent).toEqual(['a']);
    batch.add(() => sent.push('b'));
    await checkPhase();
    expect(sent).toEqual(['a', 'b']);
  });
});
