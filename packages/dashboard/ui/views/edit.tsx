import { useState } from 'preact/hooks';
import { describe, sendJson } from '../api';
import type { FunctionRecord } from '../types';

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
const LIMITS = ['memoryMiB', 'timeoutMs', 'minInstances', 'maxInstances', 'concurrency'] as const;
type Limit = (typeof LIMITS)[number];

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
 * PUT /v1/functions/:name takes the whole spec (omitted fields take their defaults): the
 * record as read, less what the gateway sets, with the edited env and limits.
 */
export function EditFunction(props: { fn: FunctionRecord }) {
  const { fn } = props;
  const [env, setEnv] = useState(
    Object.entries(fn.env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
  );
  const [limits, setLimits] = useState<Record<Limit, string>>(
    Object.fromEntries(LIMITS.map((l) => [l, String(fn[l])])) as Record<Limit, string>,
  );
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const spec: Record<string, unknown> = { ...fn, env: parseEnv(env) };
      for (const f of SERVER_FIELDS) delete spec[f];
      for (const l of LIMITS) spec[l] = Number(limits[l]);
      await sendJson('PUT', `/v1/functions/${encodeURIComponent(fn.name)}`, spec);
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h3>Update</h3>
      <form id="update" onSubmit={(e) => void submit(e)}>
        <div class="grid">
          {LIMITS.map((l) => (
            <label key={l}>
              {l}
              <input
                name={l}
                type="number"
                value={limits[l]}
                onInput={(e) => setLimits({ ...limits, [l]: e.currentTarget.value })}
              />
            </label>
          ))}
        </div>
        <label>
          Environment (KEY=value, one a line)
          <textarea name="env" rows={4} value={env} onInput={(e) => setEnv(e.currentTarget.value)} />
        </label>
        {error && (
          <p class="api-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" aria-busy={busy}>
          Update (makes revision {fn.revision + 1})
        </button>
      </form>
    </section>
  );
}
