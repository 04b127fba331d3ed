import {
  type ImageReference,
  type PullOptions,
  parseChallenge,
  RegistryError,
  registryScheme,
} from './reference.js';

/** How long one registry request may take, unless PullOptions.timeoutMs says. */
export const DEFAULT_PULL_TIMEOUT_MS = 60_000;

/** One repository's registry API, with its auth dance. */
export class RegistryClient {
  private readonly base: string;
  private authorization: string | undefined;

  constructor(
    private readonly ref: ImageReference,
    private readonly opts: PullOptions,
  ) {
    this.base = `${registryScheme(ref.registry, opts.insecureRegistries)}://${ref.registry}/v2/${ref.repository}`;
  }

  private async send(url: string, headers: Record<string, string>): Promise<Response> {
    try {
      return await fetch(url, {
        headers: this.authorization ? { ...headers, authorization: this.authorization } : headers,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? DEFAULT_PULL_TIMEOUT_MS),
      });
    } catch (err) {
      throw new RegistryError(
        'unreachable',
        `registry ${this.ref.registry} is unreachable: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  /** GET with the registry's auth dance: 401 + challenge → Basic, or a Bearer token → retry once. */
  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const url = `${this.base}${path}`;
    let res = await this.send(url, headers);
    if (res.status === 401 && !this.authorization) {
      await res.body?.cancel();
      await this.authenticate(res.headers.get('www-authenticate') ?? '');
      res = await this.send(url, headers);
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new RegistryError(
        'auth',
        `registry ${this.ref.registry} refused access to ${this.ref.repository} (${res.status})`,
      );
    }
    if (res.status === 404) {
      await res.body?.cancel();
      throw new RegistryError(
        'not-found',
        `${this.ref.registry}/${this.ref.repository}:${this.ref.reference} not found`,
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new RegistryError('refused', `registry ${this.ref.registry} answered ${res.status} for ${path}`);
    }
    return res;
  }

  private async authenticate(header: string): Promise<void> {
    const creds = this.opts.credentials?.(this.ref.registry);
    const basic = creds
      ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
      : undefined;
    const { scheme, params } = parseChallenge(header);
    if (scheme === 'basic') {
      if (!basic) throw new RegistryError('auth', `registry ${this.ref.registry} needs credentials`);
      this.authorization = basic;
      return;
    }
    if (scheme !== 'bearer' || !params.realm) {
      throw new RegistryError('auth', `registry ${this.ref.registry} asks for unsupported auth "${header}"`);
    }
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${this.ref.repository}:pull`);
    let res: Response;
    try {
      res = await fetch(url, {
        headers: basic ? { authorization: basic } : {},
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? DEFAULT_PULL_TIMEOUT_MS),
      });
    } catch (err) {
      throw new RegistryError('unreachable', `token service ${url.origin} is unreachable`, { cause: err });
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new RegistryError('auth', `token service ${url.origin} refused the credentials (${res.status})`);
    }
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError('auth', `token service ${url.origin} returned no token`);
    this.authorization = `Bearer ${token}`;
  }
}
