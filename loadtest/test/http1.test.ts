import { describe, expect, it } from 'vitest';
import { takeResponse } from '../src/http1.js';

const ok = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';

describe('takeResponse', () => {
  it('takes one whole response and leaves what follows', () => {
    expect(takeResponse(`${ok}HTTP/1.1 404 Not Found\r\n`)).toEqual({
      status: 200,
      rest: 'HTTP/1.1 404 Not Found\r\n',
    });
    expect(takeResponse(ok)).toEqual({ status: 200, rest: '' });
  });
  it('reads content-length in any case', () => {
    expect(takeResponse('HTTP/1.1 503 x\r\ncontent-length: 2\r\n\r\nab')).toEqual({ status: 503, rest: '' });
  });
  it('waits for the end of the headers and the whole body', () => {
    expect(takeResponse('')).toBeUndefined();
    expect(takeResponse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n')).toBeUndefined();
    expect(takeResponse(ok.slice(0, -1))).toBeUndefined();
  });
  it('takes a response with no content-length as one with no body', () => {
    expect(takeResponse('HTTP/1.1 204 No Content\r\n\r\nnext')).toEqual({ status: 204, rest: 'next' });
  });
  it('refuses something that is not an HTTP/1.x response', () => {
    expect(() => takeResponse('SSH-2.0-OpenSSH\r\n\r\n')).toThrow(/not an HTTP\/1.1 response/);
  });
});
