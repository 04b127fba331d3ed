import { describe, expect, it } from 'vitest';
import { Admission, type AdmissionTicket, type AdmittedFunction } from '../../src/pool/admission.js';
import { InstancePool } from '../../src/pool/pool.js';
import { ConcurrencySampler } from '../../src/pool/sampler.js';
import { FakeFactory, type FakeInstance, fakeMemory, settle, silentLog } from './fakes.js';

const fn: AdmittedFunction & { memoryMiB: number; minInstances: number } = {
  name: 'f',
  concurrency: 2,
  maxInstances: 2,
  timeoutMs: 1000,
  memoryMiB: 64,
  minInstances: 0,
};

/** Admission over fake instances, wired as FunctionHost wires the real ones. */
function setup() {
  const factory = new FakeFactory();
  const holder: { admission?: Admission<FakeInstance> } = {};
  const pool = new InstancePool<FakeInstance>({
    fn,
    factory,
    memory: fakeMemory(1024),
    log: silentLog,
    onStartSettled: (ok) => holder.admission?.dispatch(ok),
  });
  const admission = new Admission({ fn, pool, sampler: new ConcurrencySampler() });
  holder.admission = admission;
  return { factory, pool, admission };
}

describe('Admission: the cold flag', () => {
  it('marks cold every call that waited for an instance started for it, and no call after', async () => {
    const { factory, admission } = setup();
    const tickets: AdmissionTicket[] = [{}, {}];
    const waiting = tickets.map((t) => admission.take(t));
    await settle();
    const inst = factory.finish();
    // Both waited for the one start (concurrency 2): both are cold starts.
    expect(await Promise.all(waiting)).toEqual([inst, inst]);
    expect(tickets).toEqual([{ cold: true }, { cold: true }]);
    inst.release();
    const warm: AdmissionTicket = {};
    expect(await admission.take(warm)).toBe(inst);
    expect(warm.cold).toBeUndefined();
  });

  it('does not mark a call that found a pre-warmed instance that had served nothing yet', async () => {
    const { factory, admission, pool } = setup();
    const starting = pool.start('minimum');
    await settle();
    factory.finish();
    const inst = await starting;
    await inst?.freezeIfIdle();
    const ticket: AdmissionTicket = {};
    expect(await admission.take(ticket)).toBe(inst);
    expect(inst?.served).toBe(0);
    expect(ticket.cold).toBeUndefined();
  });

  it('marks cold a call that waited for the autoscaler’s start, not there when it came', async () => {
    const { factory, admission, pool } = setup();
    const scaled = pool.start('autoscaler');
    await settle();
    const ticket: AdmissionTicket = {};
    const waiting = admission.take(ticket);
    await settle();
    expect(factory.waiting).toBe(1); // the autoscaler's start covers the waiting call
    const inst = factory.finish();
    expect(await scaled).toBe(inst);
    expect(await waiting).toBe(inst);
    expect(ticket.cold).toBe(true);
  });

  it('does not mark a call that waited and got a slot freed on an instance that had served', async () => {
    const { factory, admission } = setup();
    const held = [admission.take({}), admission.take({})];
    await settle();
    const a = factory.finish();
    await Promise.all(held);
    a.release(); // one call on a ends: a has served
    await admission.take({}); // and its slot is taken again: a is full
    const ticket: AdmissionTicket = {};
    const waiting = admission.take(ticket); // waits; a second instance starts for it
    await settle();
    a.release(); // a slot on a frees before the start ends
    admission.dispatch(false);
    expect(await waiting).toBe(a);
    expect(ticket.cold).toBeUndefined();
  });
});
