import { useEffect, useState } from 'preact/hooks';
import { call, describe } from '../api';
import type { LogEntry } from '../types';

/** Lines kept on the page; older ones scroll away. */
const KEPT_LINES = 300;

/**
 * The function's logs: the last minutes, then new lines as the workers read them
 * (GET /v1/functions/:name/logs?follow=1&format=json, NDJSON read from the response stream).
 * Leaving the view aborts the request, which ends the follow on the gateway.
 */
export function LogTail(props: { name: string }) {
  const [lines, setLines] = useState<LogEntry[]>([]);
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    const ac = new AbortController();
    setLines([]);
    setError(undefined);
    const follow = async (): Promise<void> => {
      const res = await call(
        `/v1/functions/${encodeURIComponent(props.name)}/logs?follow=1&format=json&since=15m&limit=${KEPT_LINES}`,
        { signal: ac.signal },
      );
      if (!res.body) throw new Error('the log answer has no body');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let rest = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        rest += value;
        const parts = rest.split('\n');
        rest = parts.pop() ?? '';
        const entries = parts.filter((p) => p.trim()).map((p) => JSON.parse(p) as LogEntry);
        if (entries.length) setLines((old) => [...old, ...entries].slice(-KEPT_LINES));
      }
    };
    follow().catch((err: unknown) => {
      if (!ac.signal.aborted) setError(describe(err));
    });
    return () => ac.abort();
  }, [props.name]);
  return (
    <section>
      <h3>Logs</h3>
      {error && (
        <p class="api-error" role="alert">
          {error}
        </p>
      )}
      <pre class="logs" id="logs">
        {lines.length === 0
          ? 'No lines yet.'
          : lines.map((l, i) => (
              <div key={i} class={l.stream}>
                {l.t} {l.instance.slice(0, 12)} {l.line}
              </div>
            ))}
      </pre>
    </section>
  );
}
