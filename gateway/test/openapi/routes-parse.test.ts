import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { registeredRoutes, shape } from './routes.js';

describe('registeredRoutes (the route test reads fastify’s route tree with it)', () => {
  it('gives every route with its full URL and methods, however the tree shares prefixes', async () => {
    const app = Fastify();
    const ok = async () => 'ok';
    app.get('/v1/functions', ok);
    app.post('/v1/functions', ok);
    app.get('/v1/functions/:name', ok);
    app.post('/v1/functions/:name/scale-to-zero', ok);
    app.get('/v1/calls/:id', ok);
    app.route({ method: ['GET', 'PUT'], url: '/fn/:name/*', handler: ok });
    app.get('/docs/js/scalar.js', ok);
    await app.ready();
    const routes = registeredRoutes(app.printRoutes());
    expect(routes.map((r) => `${r.url} ${[...r.methods].sort().join(',')}`).sort()).toEqual([
      '/docs/js/scalar.js GET,HEAD',
      '/fn/:name/* GET,HEAD,PUT',
      '/v1/calls/:id GET,HEAD',
      '/v1/functions GET,HEAD,POST',
      '/v1/functions/:name GET,HEAD',
      '/v1/functions/:name/scale-to-zero POST',
    ]);
    await app.close();
  });

  it('matches fastify URLs and OpenAPI paths whatever their parameters are named', () => {
    expect(shape('/v1/calls/:id')).toBe(shape('/v1/calls/{callId}'));
    expect(shape('/fn/:name/*')).toBe(shape('/fn/{name}/{path}'));
    expect(shape('/fn/:name')).not.toBe(shape('/fn/{name}/{path}'));
  });
});
