import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '@thaw/shared';
import type { FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';

/** A new secret token: 32 random bytes, recognisable by its prefix. */
export function newToken(): string {
  return `thaw_${randomBytes(32).toString('base64url')}`;
}

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The bearer token of a request, if it has one. */
export function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m?.[1];
}

/**
 * Whether `presented` is the token whose SHA-256 is `expectedHex`. Hashes are compared, in
 * constant time: neither the token's length nor a common prefix shows in the timing.
 */
export function tokenMatches(presented: string | undefined, expectedHex: string | undefined): boolean {
  if (!presented || !expectedHex) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = Buffer.from(expectedHex, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The admin token's hash: from THAW_ADMIN_TOKEN when set; otherwise the one stored in Redis,
 * made on the very first start of any gateway (SET NX, so two gateways starting at once agree).
 * A token made here is printed once on stdout and, with `tokenFile`, written there (mode 0600)
 * for the CLI; it is never logged.
 */
export async function adminTokenHash(
  redis: Redis,
  prefix: string,
  configured: string | undefined,
  tokenFile: string | undefined,
  log: Logger,
): Promise<string> {
  if (configured) return sha256Hex(configured);
  const key = `${prefix}:admin-token-sha256`;
  const token = newToken();
  const created = (await redis.set(key, sha256Hex(token), 'NX')) === 'OK';
  if (created) {
    if (tokenFile) {
      try {
        await mkdir(dirname(tokenFile), { recursive: true });
        await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
        await chmod(tokenFile, 0o600);
      } catch (err) {
        // Nobody would ever learn this token: take it back, so that the next start makes one.
        await redis.del(key);
        throw new Error(`cannot write the admin token to ${tokenFile}: ${(err as Error).message}`);
      }
    }
    process.stdout.write(
      `\nthaw: generated the admin token (shown once${tokenFile ? `; also in ${tokenFile}` : ''}):\n\n  ${token}\n\nSend it as "Authorization: Bearer <token>" to /v1/*.\n\n`,
    );
    log.info('generated the admin token (printed on stdout once)');
  }
  const stored = await redis.get(key);
  if (!stored) throw new Error(`the admin token hash is missing from Redis (${key})`);
  return stored;
}
