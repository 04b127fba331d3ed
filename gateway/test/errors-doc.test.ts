import { readFileSync } from 'node:fs';
import { ErrorCatalogue, errorCodes } from '@thaw/shared';
import { describe, expect, it } from 'vitest';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

describe('docs/errors.md', () => {
  it.each(errorCodes)('documents %s with its status', (code) => {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
    expect(row, `docs/errors.md has no row for ${code}`).toBeDefined();
    expect(row).toContain(`| ${ErrorCatalogue[code].status} |`);
  });
});
