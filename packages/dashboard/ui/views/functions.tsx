import { useState } from 'preact/hooks';
import { describe, getJson, sendJson } from '../api';
import { usePoll } from '../poll';
import type { FunctionRecord, Instance, Worker } from '../types';

interface Overview {
  functions: FunctionRecord[];
  workers: Worker[];
}

async function overview(signal: AbortSignal): Promise<Overview> {
  const [f, w] = await Promise.all([
    getJson<{ functions: FunctionRecord[] }>('/v1/functions', signal),
    getJson<{ workers: Worker[] }>('/v1/workers', signal),
  ]);
  return { functions: f.functions, workers: w.workers };
}

/** The function's instances on every live worker, as their heartbeats tell. */
function instancesOf(name: string, workers: Worker[]): Instance[] {
  return workers.flatMap((w) => w.functions.filter((f) => f.name === name).flatMap((f) => f.instances));
}

export function counts(instances: Instance[]): string {
  const running = instances.filter((i) => i.state === 'running').length;
  return `${running} running, ${instances.length - running} frozen`;
}

/** The list of functions and workers, and the deploy form. */
export function FunctionsPage() {
  const { data, error } = usePoll(overview, 'overview');
  return (
    <>
      <section>
        <h2>Functions</h2>
        {error && (
          <p class="api-error" role="alert">
            {error}
          </p>
        )}
        {!data ? (
          <p aria-busy="true">Loading…</p>
        ) : data.functions.length === 0 ? (
          <p>No functions yet.</p>
        ) : (
          <div class="overflow-auto">
            <table id="functions">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Status</th>
                  <th>Revision</th>
                  <th>Image</th>
                  <th>Memory</th>
                  <th>Instances</th>
                </tr>
              </thead>
              <tbody>
                {data.functions.map((f) => (
                  <tr key={f.name} data-function={f.name}>
                    <td>
                      <a href={`#/fn/${f.name}`}>{f.name}</a>
                    </td>
                    <td title={f.reason}>{f.status}</td>
                    <td>{f.revision}</td>
                    <td>
                      <code>{f.image.length > 40 ? `${f.image.slice(0, 40)}…` : f.image}</code>
                    </td>
                    <td>{f.memoryMiB} MiB</td>
                    <td>{counts(instancesOf(f.name, data.workers))}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {data && <Workers workers={data.workers} />}
      <Deploy />
    </>
  );
}

function Workers(props: { workers: Worker[] }) {
  return (
    <section>
      <h3>Workers</h3>
      <table id="workers">
        <thead>
          <tr>
            <th>Worker</th>
            <th>Memory committed</th>
            <th>Instances</th>
            <th>Draining</th>
          </tr>
        </thead>
        <tbody>
          {props.workers.map((w) => (
            <tr key={w.workerId}>
              <td>{w.workerId}</td>
              <td>
                {w.memory.committedMiB} / {w.memory.budgetMiB} MiB
              </td>
              <td>{counts(w.functions.flatMap((f) => f.instances))}</td>
              <td>{w.draining ? 'yes' : 'no'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** Deploy from a registry reference (or an uploaded image's digest): POST /v1/functions. */
function Deploy() {
  const [name, setName] = useState('');
  const [image, setImage] = useState('');
  const [memory, setMemory] = useState('128');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await sendJson('POST', '/v1/functions', { name, image, memoryMiB: Number(memory) });
      location.hash = `#/fn/${name}`;
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h3>Deploy</h3>
      <form id="deploy" onSubmit={(e) => void submit(e)}>
        <div class="grid">
          <label>
            Name
            <input name="name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </label>
          <label>
            Image (registry reference or sha256 digest)
            <input
              name="image"
              required
              placeholder="registry.example:5000/team/fn:1"
              value={image}
              onInput={(e) => setImage(e.currentTarget.value)}
            />
          </label>
          <label>
            Memory (MiB)
            <input
              name="memoryMiB"
              type="number"
              min="16"
              value={memory}
              onInput={(e) => setMemory(e.currentTarget.value)}
            />
          </label>
        </div>
        {error && (
          <p class="api-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" aria-busy={busy}>
          Deploy
        </button>
      </form>
    </section>
  );
}
