import { Writable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createServer } from '../../src/http/server.js';

/** A real pino logger writing JSON lines into `lines`, counting the children made of it. */
function countingLogger() {
  const lines: Record<string, unknown>[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const logger = pino({ level: 'info' }, out);
  let children = 0;
  const child = logger.child.bind(logger);
  logger.child = ((...args: Parameters<typeof child>) => {
    children++;
    return child(...args);
  }) as typeof logger.child;
  return { logger, lines, children: () => children };
}

describe('request loggers', () => {
  it('are made on their first line only, and those lines carry the request id', async () => {
    const { logger, lines, children } = countingLogger();
    const app = createServer(logger);
    app.get('/quiet', async () => 'ok');
    app.get('/loud', async (req) => {
      (req.log as FastifyBaseLogger).info({ step: 1 }, 'first');
      req.log.warn('second');
      return 'ok';
    });
    await app.ready();
    const made = children();
    for (let i = 0; i < 5; i++) expect((await app.inject({ url: '/quiet' })).statusCode).toBe(200);
    expect(children()).toBe(made);
    const loud = await app.inject({ url: '/loud' });
    expect(loud.statusCode).toBe(200);
    expect(children()).toBe(made + 1);
    const mine = lines.filter((l) => l.msg === 'first' || l.msg === 'second');
    expect(mine).toHaveLength(2);
    expect(mine[0]?.reqId).toBeTruthy();
    expect(mine[0]).toMatchObject({ step: 1 });
    expect(mine[1]?.reqId).toBe(mine[0]?.reqId);
    await app.close();
  });
});
