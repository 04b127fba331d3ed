import { ErrorCatalogue, type ErrorCode } from '@thaw/shared';
import { z } from 'zod';

export type Json = Record<string, unknown>;

/** A zod schema as an OpenAPI 3.1 (JSON Schema 2020-12) schema object. */
export function schema(s: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Json;
  return rest;
}

export const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

/** A JSON response or request body, with one example. */
export const jsonBody = (s: Json, example?: unknown): Json => ({
  content: { 'application/json': { schema: s, ...(example === undefined ? {} : { example }) } },
});

export const response = (description: string, s: Json, example?: unknown): Json => ({
  description,
  ...jsonBody(s, example),
});

/**
 * The error responses of an operation, one per status, each listing its catalogue codes with
 * an example body per code: clients branch on `error.code`, so every code they can see is named.
 */
export function errors(...codes: ErrorCode[]): Json {
  const out: Json = {};
  for (const status of [...new Set(codes.map((c) => ErrorCatalogue[c].status))]) {
    const mine = codes.filter((c) => ErrorCatalogue[c].status === status);
    out[String(status)] = {
      description: mine.map((c) => `${c}: ${ErrorCatalogue[c].message}`).join(' '),
      content: {
        'application/json': {
          schema: ref('Error'),
          examples: Object.fromEntries(
            mine.map((c) => [
              c,
              {
                summary: ErrorCatalogue[c].message,
                value: { error: { code: c, message: ErrorCatalogue[c].message } },
              },
            ]),
          ),
        },
      },
    };
  }
  return out;
}

/** What every request can meet before its route runs (server.ts and errors.ts). */
export const FRAMEWORK_ERRORS: ErrorCode[] = ['BAD_REQUEST'];

export const pathParam = (name: string, description: string, example: string): Json => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string' },
  example,
});

export const nameParam = pathParam('name', 'The function name.', 'hello');

/** Security requirements, as operations list them. */
export const ADMIN = [{ adminToken: [] }];
/** A public function needs no token; a token function takes its invoke token or the admin token. */
export const INVOKE = [{}, { invokeToken: [] }, { adminToken: [] }];
export const OPEN: Json[] = [];
