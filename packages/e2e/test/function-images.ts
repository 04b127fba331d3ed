import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { nodeImage, writeImageArchive } from '@thaw/runtime/build';

/**
 * A function for the async tests: answers of any size (byte i is i % 251, so a kept prefix can
 * be checked without the whole), and 503s whose count does not depend on which instance answers.
 */
const SERVER = `
import { createServer } from 'node:http';

const tries = new Map();
createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://fn');
  req.resume();
  req.on('end', () => {
    const json = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    switch (url.pathname) {
      case '/big': {
        const bytes = Number(url.searchParams.get('bytes') ?? 0);
        const body = Buffer.alloc(bytes);
        for (let i = 0; i < bytes; i++) body[i] = i % 251;
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(body);
        return;
      }
      case '/sleep': {
        const ms = Number(url.searchParams.get('ms') ?? 0);
        setTimeout(() => json(200, { slept: ms }), ms);
        return;
      }
      case '/fail': {
        const key = url.searchParams.get('key') ?? '';
        const n = (tries.get(key) ?? 0) + 1;
        tries.set(key, n);
        json(503, { key, try: n });
        return;
      }
      default:
        json(404, { path: url.pathname });
    }
  });
}).listen(Number(process.env.PORT ?? 8080), '0.0.0.0');
`;

/** `async-fn`: the server above. */
export async function asyncFunctionImage(outDir: string): Promise<{ path: string; digest: string }> {
  return await writeImageArchive(
    nodeImage([{ path: 'app/server.mjs', type: 'file', mode: 0o644, content: SERVER }]),
    'oci',
    join(outDir, 'async-fn.oci.tar'),
  );
}

/** `exits-at-start`: a good (small, busybox) image whose process exits before it listens. */
export async function exitingImage(outDir: string): Promise<{ path: string; digest: string }> {
  return await writeImageArchive(
    {
      layers: [
        {
          entries: [
            { path: 'bin', type: 'dir', mode: 0o755 },
            { path: 'bin/busybox', type: 'file', mode: 0o755, source: realpathSync('/bin/busybox') },
            { path: 'bin/sh', type: 'symlink', target: 'busybox' },
          ],
        },
      ],
      config: {
        Entrypoint: ['/bin/sh', '-c', 'echo this image exits at start on purpose >&2; exit 3'],
        Env: ['PATH=/bin'],
      },
    },
    'oci',
    join(outDir, 'exits-at-start.oci.tar'),
  );
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: shell expansions, run inside the container
const SLOW_START = 'sleep ${START_DELAY:-0}; exec httpd -f -p 0.0.0.0:${PORT:-8080} -h /www';

/**
 * `slow-start`: busybox httpd on $PORT after sleeping $START_DELAY seconds (0 by default), so
 * that a test can act while an instance is starting.
 */
export async function slowStartImage(outDir: string): Promise<{ path: string; digest: string }> {
  return await writeImageArchive(
    {
      layers: [
        {
          entries: [
            { path: 'bin', type: 'dir', mode: 0o755 },
            { path: 'bin/busybox', type: 'file', mode: 0o755, source: realpathSync('/bin/busybox') },
            ...['sh', 'sleep', 'httpd'].map((name) => ({
              path: `bin/${name}`,
              type: 'symlink' as const,
              target: 'busybox',
            })),
            { path: 'www', type: 'dir', mode: 0o755 },
            { path: 'www/index.html', type: 'file', mode: 0o644, content: 'started\n' },
          ],
        },
      ],
      config: {
        Entrypoint: ['/bin/sh', '-c', SLOW_START],
        Env: ['PATH=/bin'],
      },
    },
    'oci',
    join(outDir, 'slow-start.oci.tar'),
  );
}
