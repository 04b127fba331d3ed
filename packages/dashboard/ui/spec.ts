// The spec an update sends (pure: unit-tested apart from the page).
import type { FunctionRecord } from './types';

/** Fields of the record the gateway sets itself: not part of the spec a PUT sends back. */
const SERVER_FIELDS = [
  'imageDigest',
  'revision',
  'status',
  'reason',
  'createdAt',
  'updatedAt',
  'workers',
  'removed',
];
export const LIMITS = ['memoryMiB', 'timeoutMs', 'minInstances', 'maxInstances', 'concurrency'] as const;
export type Limit = (typeof LIMITS)[number];

/** `KEY=value` lines → env; a line without `=` is an error named by its number. */
export function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const at = line.indexOf('=');
    if (at < 1) throw new Error(`env line ${i + 1}: expected KEY=value`);
    env[line.slice(0, at).trim()] = line.slice(at + 1);
  });
  return env;
}

/**
 * The body of PUT /v1/functions/:name, which takes the whole spec (omitted fields take their
 * defaults): the record as read, less what the gateway sets, with the edited env and limits.
 */
export function updatedSpec(
  fn: FunctionRecord,
  envText: string,
  limits: Record<Limit, string>,
): Record<string, unknown> {
  const spec: Record<string, unknown> = { ...fn, env: parseEnv(envText) };
  for (const f of SERVER_FIELDS) delete spec[f];
  for (const l of LIMITS) spec[l] = Number(limits[l]);
  return spec;
}
