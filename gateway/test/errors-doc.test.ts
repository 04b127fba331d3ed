import { readFileSync } from 'node:fs';
import { ErrorCatalogue, errorCodes } from '@thaw/shared';
import { describe, expect, it } from 'vitest';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
// Table rows as cells, however the table is padded.
const rows = doc
  .split('\n')
  .filter((l) => l.startsWith('|'))
  .map((l) => l.split('|').map((c) => c.trim()));

describe('docs/errors.md', () => {
  it.each(errorCodes)('documents %s with its status', (code) => {
    const row = rows.find((cells) => cells[1] === `\`${code}\``);
    expect(row, `docs/errors.md has no row for ${code}`).toBeDefined();
    expect(row?.[2]).toBe(String(ErrorCatalogue[code].status));
  });
});
