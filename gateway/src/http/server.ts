import { METHODS } from 'node:http';
import { type Logger, ThawError } from '@thaw/shared';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { clientErrorHandler, frameworkErrors, MAX_PARAM_LENGTH, parseJsonBody } from './errors.js';
import { lazyChildLogger } from './request-logger.js';

/** Largest JSON body of the admin API (the invoke and image routes set their own limits). */
export const API_BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * The fastify instance with the gateway's HTTP rules, before any route: JSON only for the
 * API, every method for functions, errors in the catalogue's shape from every layer.
 */
export function createServer(logger: Logger): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // The invoke path is hot: a log line per request costs more than the rest of the gateway.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyChildLogger,
    bodyLimit: API_BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // What Node's HTTP parser and fastify's router refuse is answered in the catalogue's shape too.
    frameworkErrors,
    clientErrorHandler,
  });
  // The API takes JSON only (text/plain included would reach a route as a string); the invoke
  // and image routes set their own parsers.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody);
  // "ANY" means any: WebDAV and other registered methods (PROPFIND, MKCOL, PURGE...) reach
  // functions too. CONNECT is left out: its target is a host, not a path.
  for (const method of METHODS) {
    if (method !== 'CONNECT' && !app.supportedMethods.includes(method))
      app.addHttpMethod(method, { hasBody: true });
  }
  // An absolute-form target (a request meant for a proxy) has no path of ours to route by.
  // Callback-style, as the admin check: every request passes here, and an async hook costs a
  // promise per request on the hot invoke path.
  app.addHook('onRequest', (req, _reply, done) => {
    if (req.raw.url?.startsWith('/')) return done();
    done(
      new ThawError(
        'BAD_REQUEST',
        'the request target must be a path such as /fn/<name>/..., not an absolute URL',
      ),
    );
  });
  return app;
}
