import { adminPaths } from './openapi/admin-paths.js';
import type { Json } from './openapi/common.js';
import { invokePaths } from './openapi/invoke-paths.js';
import { lambdaPaths, lambdaSecuritySchemes, lambdaTag } from './openapi/lambda-paths.js';
import { opsPaths } from './openapi/ops-paths.js';
import { componentSchemas } from './openapi/schemas.js';

/**
 * The API description, generated from the same zod schemas that validate requests, so it
 * cannot drift from what the gateway accepts. Served at GET /openapi.json, browsable at /docs;
 * test/openapi checks it against the routes, a validator, a linter and a committed snapshot.
 */
export function openApiDocument(): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'thaw',
      version: '0.1.0',
      summary: 'Serverless container functions: deploy an OCI image, invoke it over HTTP.',
      description:
        'Errors are `{ "error": { "code", "message" } }` with the code also in the `X-Thaw-Error` header; the codes are in docs/errors.md. Versioning and deprecation rules: docs/api.md.',
    },
    // Relative: the document describes the gateway that serves it.
    servers: [{ url: '/', description: 'This gateway' }],
    tags: [
      { name: 'Admin', description: 'The admin API: needs the admin token.' },
      { name: 'Invoke', description: 'Calling functions, answered now (/fn) or later (/async).' },
      { name: 'Operations', description: 'Probes, metrics and this document; open.' },
      lambdaTag,
    ],
    paths: { ...adminPaths(), ...invokePaths(), ...opsPaths(), ...lambdaPaths() },
    components: {
      securitySchemes: {
        adminToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'The admin token (THAW_ADMIN_TOKEN, or generated and printed on first start).',
        },
        invokeToken: {
          type: 'http',
          scheme: 'bearer',
          description:
            'A function’s invoke token (shown once when a function with invokeAuth "token" is created).',
        },
        ...lambdaSecuritySchemes,
      },
      schemas: componentSchemas(),
    },
  };
}
