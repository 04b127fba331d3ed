import { useState } from 'preact/hooks';
import { describe, sendJson } from '../api';
import { LIMITS, type Limit, updatedSpec } from '../spec';
import type { FunctionRecord } from '../types';

/** The env and limits of a function, sent back with the rest of its spec (spec.ts). */
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
      await sendJson('PUT', `/v1/functions/${encodeURIComponent(fn.name)}`, updatedSpec(fn, env, limits));
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
