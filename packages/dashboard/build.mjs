// Bundles the browser UI (ui/main.tsx and the CSS it imports) into dist/ui: one JS and one CSS
// file named by their content hash (served immutable) and an index.html naming them (no-cache).
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = dirname(fileURLToPath(import.meta.url));
const out = join(root, 'dist', 'ui');
await rm(out, { recursive: true, force: true });
await mkdir(join(out, 'assets'), { recursive: true });

const result = await build({
  entryPoints: [join(root, 'ui', 'main.tsx')],
  bundle: true,
  format: 'esm',
  minify: true,
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: '[name]-[hash]',
  outdir: join(out, 'assets'),
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
if (!js || !css) throw new Error(`esbuild wrote no JS or no CSS: ${outputs.join(', ')}`);
const html = (await readFile(join(root, 'ui', 'index.html'), 'utf8'))
  .replace('%JS%', `assets/${js}`)
  .replace('%CSS%', `assets/${css}`);
await writeFile(join(out, 'index.html'), html);
