import { readFileSync } from 'node:fs';
import { ErrorCatalogue, errorCodes, isErrorCode } from '@thaw/shared';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const doc = read('docs/errors.md');
// Table rows as cells, however the table is padded; the header and the separator row are not codes.
const rows = doc
  .split('\n')
  .filter((l) => l.startsWith('|'))
  .map((l) => l.split('|').map((c) => c.trim()))
  .filter((cells) => /^`[^`]+`$/.test(cells[1] ?? ''));
const documented = rows.map((cells) => (cells[1] ?? '').slice(1, -1));

describe('docs/errors.md', () => {
  it.each(errorCodes)('documents %s with its status', (code) => {
    const row = rows.find((cells) => cells[1] === `\`${code}\``);
    expect(row, `docs/errors.md has no row for ${code}`).toBeDefined();
    expect(row?.[2]).toBe(String(ErrorCatalogue[code].status));
  });

  it('documents only codes of the catalogue, each once', () => {
    expect(documented.length).toBeGreaterThan(0);
    expect(
      documented.filter((code) => !isErrorCode(code)),
      'rows of docs/errors.md for codes packages/shared/src/errors.ts does not have',
    ).toEqual([]);
    expect(
      documented.filter((code, i) => documented.indexOf(code) !== i),
      'codes with two rows',
    ).toEqual([]);
  });

  it('gives every "<status> CODE" in the README and the API docs the status of the catalogue', () => {
    const mentions: string[] = [];
    for (const path of ['README.md', 'docs/api.md', 'docs/configuration.md', 'docs/errors.md']) {
      for (const m of read(path).matchAll(/`([1-5]\d\d) ([A-Z][A-Z_]+)`/g)) {
        mentions.push(`${path}: ${m[1]} ${m[2]}`);
      }
    }
    // The docs do name codes with their status; a check that found none would check nothing.
    expect(mentions.length).toBeGreaterThanOrEqual(5);
    const wrong = mentions.filter((m) => {
      const [, status, code] = /: (\d+) (\w+)$/.exec(m) ?? [];
      return !isErrorCode(code) || String(ErrorCatalogue[code].status) !== status;
    });
    expect(wrong, 'codes that are not in the catalogue, or with another status').toEqual([]);
  });
});
