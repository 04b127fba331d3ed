import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ArchiveFormat, type ImageDefinition, nodeImage, writeImageArchive } from '../build/index.js';

export type TestImageName = 'node-hello' | 'busybox-httpd';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

function definition(name: TestImageName): ImageDefinition {
  if (name === 'node-hello') {
    return nodeImage([
      { path: 'app/server.mjs', type: 'file', mode: 0o644, source: join(EXAMPLES, 'node-hello/server.mjs') },
    ]);
  }
  return {
    layers: [
      {
        entries: [
          { path: 'bin', type: 'dir', mode: 0o755 },
          { path: 'bin/busybox', type: 'file', mode: 0o755, source: realpathSync('/bin/busybox') },
          { path: 'bin/sh', type: 'symlink', target: 'busybox' },
          { path: 'bin/httpd', type: 'symlink', target: 'busybox' },
          { path: 'tmp', type: 'dir', mode: 0o1777 },
          { path: 'www', type: 'dir', mode: 0o755 },
          { path: 'www/index.html', type: 'file', mode: 0o644, content: 'hello from busybox\n' },
        ],
      },
    ],
    config: {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, run inside the container
      Entrypoint: ['/bin/sh', '-c', 'exec /bin/busybox httpd -f -v -p 0.0.0.0:${PORT:-8080} -h /www'],
      Env: ['PATH=/bin', 'PORT=8080'],
    },
  };
}

/**
 * Builds a test image from files on this machine, with no Docker: `node-hello` (node and its
 * libraries plus examples/node-hello/server.mjs) or `busybox-httpd` (static busybox httpd).
 * Same machine, same bytes, same digest on every run.
 */
export async function buildTestImage(
  name: TestImageName,
  format: ArchiveFormat,
  outDir: string,
): Promise<{ path: string; digest: string }> {
  return await writeImageArchive(definition(name), format, join(outDir, `${name}.${format}.tar`));
}
