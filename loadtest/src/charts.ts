/**
 * `npm run charts`: re-renders every scenario's chart from its results JSON, running nothing.
 * Reads the folder given as the first argument, by default published/ (the results the
 * README quotes, committed), and writes each <scenario>.svg and .png next to its JSON.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHARTS, writeChart } from './charts/index.js';

export const PUBLISHED_DIR = fileURLToPath(new URL('../published/', import.meta.url));

const dir = resolve(process.argv[2] ?? PUBLISHED_DIR);
let rendered = 0;
for (const [name, build] of Object.entries(CHARTS)) {
  const file = join(dir, `${name}.json`);
  if (!existsSync(file)) continue;
  const paths = await writeChart(dir, name, build(JSON.parse(await readFile(file, 'utf8'))));
  console.log(`wrote ${paths.join(' and ')}`);
  rendered++;
}
if (rendered === 0) {
  console.error(`no results JSON in ${dir} (expected ${Object.keys(CHARTS).join(', ')})`);
  process.exit(1);
}
