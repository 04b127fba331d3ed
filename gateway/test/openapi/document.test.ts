import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import SwaggerParser from '@apidevtools/swagger-parser';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/http/openapi.js';

const here = dirname(fileURLToPath(import.meta.url));
const SNAPSHOT = join(here, 'openapi.snapshot.json');
const REDOCLY = join(here, '../../../node_modules/.bin/redocly');
const run = promisify(execFile);
const BIOME = join(here, '../../../node_modules/.bin/biome');
/** The document as served: through JSON, as a client reads it. */
const served = () => JSON.parse(JSON.stringify(openApiDocument())) as unknown;

describe('the OpenAPI document', () => {
  it('matches the committed snapshot (UPDATE_OPENAPI_SNAPSHOT=1 npx vitest run test/openapi rewrites it)', async () => {
    if (process.env.UPDATE_OPENAPI_SNAPSHOT === '1') {
      await writeFile(SNAPSHOT, JSON.stringify(served()));
      // Laid out as the repository's formatter wants it, so that `biome check .` stays clean.
      await run(BIOME, ['format', '--write', SNAPSHOT]);
    }
    // A failure here is a contract change: review the diff against docs/api.md's versioning rules.
    expect(served()).toEqual(JSON.parse(await readFile(SNAPSHOT, 'utf8')));
  });

  it('is valid OpenAPI 3.1 for @apidevtools/swagger-parser', async () => {
    // validate() dereferences in place: give it a copy.
    const api = (await SwaggerParser.validate(structuredClone(openApiDocument()) as never)) as {
      openapi?: string;
    };
    expect(api.openapi).toBe('3.1.0');
  });

  it('passes `redocly lint` with the recommended rules, warnings included', async () => {
    // The generated document in a folder of its own, beside the config and its ignore file
    // (which names locations in "openapi.json").
    const dir = await mkdtemp(join(tmpdir(), 'thaw-openapi-'));
    try {
      await writeFile(join(dir, 'openapi.json'), JSON.stringify(served(), null, 2));
      for (const f of ['redocly.yaml', '.redocly.lint-ignore.yaml'])
        await copyFile(join(here, f), join(dir, f));
      const { stdout, stderr } = await run(
        REDOCLY,
        [
          'lint',
          '--config',
          join(dir, 'redocly.yaml'),
          '--format',
          'summary',
          '--max-problems',
          '1000',
          'openapi.json',
        ],
        {
          cwd: dir,
          env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
        },
      ).catch((err: { stdout: string; stderr: string }) => ({ stdout: err.stdout, stderr: err.stderr }));
      const out = `${stdout}\n${stderr}`;
      expect(out, out).toMatch(/Woohoo! Your API description is valid/);
      expect(out, out).not.toMatch(/\b(error|warning)\s+[\w-]+:\s*\d+/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
