import { useState } from 'preact/hooks';
import { describe, getJson, isApiError, remove } from '../api';
import { usePoll } from '../poll';
import type { FunctionView } from '../types';
import { Charts } from './charts';
import { EditFunction } from './edit';
import { counts } from './functions';
import { LogTail } from './logs';

/** One function: its instances per worker, figures, log tail, and the update and delete forms. */
export function FunctionPage(props: { name: string }) {
  const { name } = props;
  const {
    data: fn,
    error,
    failure,
  } = usePoll((signal) => getJson<FunctionView>(`/v1/functions/${encodeURIComponent(name)}`, signal), name);
  if (isApiError(failure) && failure.status === 404)
    return (
      <article>
        <p class="api-error" role="alert">
          {error}
        </p>
        <a href="#/">Back to the functions</a>
      </article>
    );
  return (
    <>
      <hgroup>
        <h2 id="function-name">{name}</h2>
        {fn && (
          <p id="function-status">
            {fn.status} · revision {fn.revision} · <code>{fn.imageDigest ?? fn.image}</code>
            {fn.reason ? ` · ${fn.reason}` : ''}
          </p>
        )}
      </hgroup>
      {error && (
        <p class="api-error" role="alert">
          {error}
        </p>
      )}
      {!fn ? <p aria-busy="true">Loading…</p> : <Instances fn={fn} />}
      <Charts name={name} />
      <LogTail name={name} />
      {fn && <EditFunction key={`${fn.name}@${fn.revision}`} fn={fn} />}
      <DeleteFunction name={name} />
    </>
  );
}

function Instances(props: { fn: FunctionView }) {
  const rows = props.fn.workers.flatMap((w) => w.instances.map((i) => ({ worker: w.worker, ...i })));
  const starting = props.fn.workers.reduce((n, w) => n + w.starting, 0);
  return (
    <section>
      <h3>Instances</h3>
      <p id="instance-counts">
        {counts(rows)}
        {starting ? `, ${starting} starting` : ''}
      </p>
      <table id="instances">
        <thead>
          <tr>
            <th>Worker</th>
            <th>Instance</th>
            <th>State</th>
            <th>Busy</th>
            <th>Revision</th>
            <th>Memory</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((i) => (
            <tr key={i.id} data-state={i.state}>
              <td>{i.worker}</td>
              <td>
                <code>{i.id.slice(0, 12)}</code>
              </td>
              <td class={`state-${i.state}`}>{i.state}</td>
              <td>{i.busy}</td>
              <td>{i.revision}</td>
              <td>{i.memoryMiB === undefined ? '–' : `${i.memoryMiB.toFixed(1)} MiB`}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** DELETE /v1/functions/:name once the name is typed again. */
function DeleteFunction(props: { name: string }) {
  const [typed, setTyped] = useState('');
  const [error, setError] = useState<string | undefined>();
  const submit = async (e: Event) => {
    e.preventDefault();
    if (typed !== props.name) return;
    try {
      await remove(`/v1/functions/${encodeURIComponent(props.name)}`);
      location.hash = '#/';
    } catch (err) {
      setError(describe(err));
    }
  };
  return (
    <section>
      <h3>Delete</h3>
      <form id="delete" onSubmit={(e) => void submit(e)}>
        {/* biome-ignore lint/a11y/noRedundantRoles: Pico lays out a fieldset as one row by this role. */}
        <fieldset role="group">
          <input
            name="confirm"
            placeholder={`type "${props.name}" to delete it`}
            value={typed}
            onInput={(e) => setTyped(e.currentTarget.value)}
          />
          <button type="submit" class="contrast" disabled={typed !== props.name}>
            Delete
          </button>
        </fieldset>
        {error && (
          <p class="api-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}
