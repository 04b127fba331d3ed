import { describe, expect, it } from 'vitest';
import { endToEndHeaders } from '../src/headers.js';

describe('endToEndHeaders', () => {
  it('drops the hop-by-hop headers, expect among them, and keeps the rest as they are', () => {
    expect(
      endToEndHeaders({
        host: 'a',
        connection: 'keep-alive',
        'keep-alive': 'timeout=5',
        'content-length': '3',
        'transfer-encoding': 'chunked',
        expect: '100-continue',
        te: 'trailers',
        'x-a': '1',
        'set-cookie': ['a=1', 'b=2'],
        'x-missing': undefined,
      }),
    ).toEqual({ 'x-a': '1', 'set-cookie': ['a=1', 'b=2'] });
  });

  it('drops the headers the Connection header names, in any case and spacing, from one or more values', () => {
    expect(
      endToEndHeaders({
        connection: 'close, X-Secret ,x-trace',
        'x-secret': 's',
        'x-trace': 't',
        'x-kept': 'k',
      }),
    ).toEqual({ 'x-kept': 'k' });
    expect(
      endToEndHeaders({ connection: ['x-one', 'X-Two'], 'x-one': '1', 'x-two': '2', 'x-three': '3' }),
    ).toEqual({
      'x-three': '3',
    });
  });
});
