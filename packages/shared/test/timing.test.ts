import { describe, expect, it } from 'vitest';
import { encodeInvokeRequest, type WireHeaders } from '../src/wire/invoke.js';
import {
  type CallTrace,
  decodeWorkerMarks,
  encodeWorkerMarks,
  serverTiming,
  timingAsked,
  traceNow,
  traceSpans,
} from '../src/wire/timing.js';

class FakeHeaders implements WireHeaders {
  readonly map = new Map<string, string>();
  get(name: string): string {
    return this.map.get(name) ?? '';
  }
  set(name: string, value: string): void {
    this.map.set(name, value);
  }
}

const req = { method: 'GET', path: '/', query: '', headers: {}, body: new Uint8Array(0) };

describe('call timing', () => {
  it('asks the worker for marks only on a traced call', () => {
    const off = new FakeHeaders();
    encodeInvokeRequest(req, off);
    expect(off.map.has('thaw-timing')).toBe(false);
    expect(timingAsked(off)).toBe(false);
    const on = new FakeHeaders();
    encodeInvokeRequest({ ...req, trace: {} }, on);
    expect(timingAsked(on)).toBe(true);
  });

  it('carries the worker marks back and splits the call into spans', () => {
    const worker: CallTrace = {
      workerReceived: 1000.25,
      thawed: 1000.5,
      answered: 1001,
      replySent: 1001.125,
    };
    const h = new FakeHeaders();
    encodeWorkerMarks(worker, h);
    const t: CallTrace = { gatewayReceived: 999, published: 999.75, replyReceived: 1001.5 };
    decodeWorkerMarks(h, t);
    const spans = traceSpans(t, 1002);
    expect(spans).toEqual({
      'gateway-in': 0.75,
      'to-worker': 0.5,
      'admit-thaw': 0.25,
      container: 0.5,
      'worker-out': 0.125,
      'to-gateway': 0.375,
      total: 3,
    });
    expect(serverTiming({ a: 1.5, total: 2 })).toBe('a;dur=1.5, total;dur=2');
  });

  it('leaves a trace as it was when the reply has no marks or bad ones', () => {
    const t: CallTrace = { published: 5 };
    decodeWorkerMarks(new FakeHeaders(), t);
    const bad = new FakeHeaders();
    bad.set('thaw-timing', 'x,,-1');
    decodeWorkerMarks(bad, t);
    expect(t).toEqual({ published: 5 });
    expect(traceSpans(t, 9)).toEqual({});
  });

  it('reads a clock comparable across processes (epoch ms, sub-ms)', () => {
    expect(Math.abs(traceNow() - Date.now())).toBeLessThan(50);
  });
});
