import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Access key pairs for the Lambda API, in one Redis hash (`<prefix>:lambda:access-keys`, id →
 * record). SigV4 verification needs the secret itself (the signing key is an HMAC chain from it
 * and the day), so a hash of it, as for tokens, cannot work. With a master key (outside Redis),
 * secrets are kept AES-256-GCM-encrypted and a Redis dump alone does not reveal them; without
 * one, they are kept as issued and the dump is as sensitive as the keys. docs/coming-from-lambda.md.
 */

/** An access key as listed: never its secret. */
export interface AccessKeyView {
  accessKeyId: string;
  createdAt: string;
  description?: string;
}

interface Stored extends AccessKeyView {
  /** "plain:<secret>" or "gcm:<iv>.<tag>.<ciphertext>" (base64url). */
  secret: string;
}

export interface AccessKeysOptions {
  redis: Redis;
  prefix: string;
  /** Any string: its SHA-256 is the AES key. Absent: secrets are stored as issued. */
  masterKey?: string;
}

/** Ids look like AWS's (20 upper-case characters, "AKIA" for long-term keys), "TKIA" for thaw's. */
function newKeyId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return `TKIA${[...randomBytes(16)].map((b) => alphabet[b % 32]).join('')}`;
}

export class AccessKeys {
  private readonly key: string;
  private readonly aesKey: Buffer | undefined;

  constructor(private readonly o: AccessKeysOptions) {
    this.key = `${o.prefix}:lambda:access-keys`;
    this.aesKey = o.masterKey ? createHash('sha256').update(o.masterKey).digest() : undefined;
  }

  /** A new pair; the secret is returned here only. */
  async issue(description?: string): Promise<AccessKeyView & { secretAccessKey: string }> {
    const accessKeyId = newKeyId();
    const secretAccessKey = randomBytes(30).toString('base64').replace(/\+/g, 'A').replace(/\//g, 'B');
    const view: AccessKeyView = {
      accessKeyId,
      createdAt: new Date().toISOString(),
      ...(description ? { description } : {}),
    };
    const stored: Stored = { ...view, secret: this.seal(secretAccessKey, accessKeyId) };
    await this.o.redis.hset(this.key, accessKeyId, JSON.stringify(stored));
    return { ...view, secretAccessKey };
  }

  async list(): Promise<AccessKeyView[]> {
    const all = await this.o.redis.hvals(this.key);
    return all
      .map((raw) => {
        const { secret: _hidden, ...view } = JSON.parse(raw) as Stored;
        return view;
      })
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** False when there was no such key. */
  async revoke(accessKeyId: string): Promise<boolean> {
    return (await this.o.redis.hdel(this.key, accessKeyId)) === 1;
  }

  /** The secret of a key, or undefined for an unknown (or revoked) key. */
  async secretOf(accessKeyId: string): Promise<string | undefined> {
    const raw = await this.o.redis.hget(this.key, accessKeyId);
    if (!raw) return undefined;
    return this.open((JSON.parse(raw) as Stored).secret, accessKeyId);
  }

  /** Sealed with the key id as associated data: a sealed secret copied to another id opens nowhere. */
  private seal(secret: string, accessKeyId: string): string {
    if (!this.aesKey) return `plain:${secret}`;
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.aesKey, iv);
    c.setAAD(Buffer.from(accessKeyId));
    const data = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
    return `gcm:${[iv, c.getAuthTag(), data].map((b) => b.toString('base64url')).join('.')}`;
  }

  private open(sealed: string, accessKeyId: string): string | undefined {
    // With a master key, only sealed secrets count: one written in plain into Redis is no key.
    if (sealed.startsWith('plain:')) return this.aesKey ? undefined : sealed.slice('plain:'.length);
    // Sealed under a master key this gateway does not have (or another one): unusable here.
    if (!this.aesKey || !sealed.startsWith('gcm:')) return undefined;
    const [iv, tag, data] = sealed
      .slice('gcm:'.length)
      .split('.')
      .map((p) => Buffer.from(p, 'base64url'));
    if (!iv || !tag || !data) return undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', this.aesKey, iv);
      d.setAAD(Buffer.from(accessKeyId));
      d.setAuthTag(tag);
      return Buffer.concat([d.update(data), d.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
