import { ThawError } from '@thaw/shared';
import type { FastifyInstance } from 'fastify';
import type { AccessKeys } from './keys.js';

/** Longest description kept with a key. */
const MAX_DESCRIPTION = 256;

/**
 * `/v1/access-keys`: the key pairs that sign Lambda API requests. Under /v1/, so the admin
 * token guard (http/admin.ts) covers them: only an admin issues, lists and revokes keys.
 */
export function accessKeyRoutes(app: FastifyInstance, keys: AccessKeys): void {
  app.post('/v1/access-keys', async (req, reply) => {
    const raw = req.body as Buffer | undefined;
    let description: unknown;
    if (raw?.length) {
      try {
        ({ description } = JSON.parse(raw.toString('utf8')) as { description?: unknown });
      } catch (err) {
        throw new ThawError('INVALID_JSON', (err as Error).message);
      }
    }
    if (
      description !== undefined &&
      (typeof description !== 'string' || description.length > MAX_DESCRIPTION)
    ) {
      throw new ThawError(
        'VALIDATION_FAILED',
        `description: must be a string of at most ${MAX_DESCRIPTION} characters`,
      );
    }
    // The secret is shown here only: it cannot be read back.
    return reply.code(201).send(await keys.issue(description));
  });

  app.get('/v1/access-keys', async () => ({ accessKeys: await keys.list() }));

  app.delete<{ Params: { id: string } }>('/v1/access-keys/:id', async (req, reply) => {
    if (!(await keys.revoke(req.params.id))) {
      throw new ThawError('VALIDATION_FAILED', `no access key "${req.params.id}" (never issued, or revoked)`);
    }
    return reply.code(204).send();
  });
}
