import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { call, describe, isApiError } from '../api';
import { LogLines, type TailItem } from '../log-lines';
import { REFRESH_MS } from '../poll';

/** Lines kept on the page; older ones scroll away. */
const KEPT_LINES = 300;
/** How near the bottom a reader counts as following the newest lines. */
const SCROLL_SLACK_PX = 8;
/** The history shown when the tail opens. */
const FIRST_WINDOW = '15m';

/**
 * The function's logs: the last minutes, then new lines as the workers read them
 * (GET /v1/functions/:name/logs?follow=1&format=json, NDJSON read from the response stream).
 * A stream that ends (the gateway restarted, the follower fell behind) is opened again from the
 * last line's time; leaving the view aborts the request, which ends the follow on the gateway.
 */
export function LogTail(props: { name: string }) {
  const [items, setItems] = useState<TailItem[]>([]);
  const [error, setError] = useState<string | undefined>();
  const box = useRef<HTMLPreElement>(null);
  // A tail shows the newest lines: it follows the bottom unless the reader scrolled up.
  const atBottom = useRef(true);
  useLayoutEffect(() => {
    const el = box.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [items]);
  useEffect(() => {
    const ac = new AbortController();
    const lines = new LogLines();
    setItems([]);
    setError(undefined);
    const follow = async (): Promise<void> => {
      lines.restart();
      const since = encodeURIComponent(lines.since(FIRST_WINDOW));
      const res = await call(
        `/v1/functions/${encodeURIComponent(props.name)}/logs?follow=1&format=json&since=${since}&limit=${KEPT_LINES}`,
        { signal: ac.signal },
      );
      if (!res.body) throw new Error('the log answer has no body');
      setError(undefined);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        const got = lines.push(value);
        if (got.length) setItems((old) => [...old, ...got].slice(-KEPT_LINES));
      }
    };
    const run = async (): Promise<void> => {
      while (!ac.signal.aborted) {
        try {
          await follow();
        } catch (err) {
          if (ac.signal.aborted) return;
          setError(describe(err));
          // Gone, or the token refused (the page signs out): no point in asking again.
          if (isApiError(err) && (err.status === 404 || err.status === 401)) return;
        }
        await new Promise((r) => setTimeout(r, REFRESH_MS));
      }
    };
    void run();
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
      <pre
        class="logs"
        id="logs"
        ref={box}
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollTop + el.clientHeight >= el.scrollHeight - SCROLL_SLACK_PX;
        }}
      >
        {items.length === 0
          ? 'No lines yet.'
          : items.map((item, i) =>
              'note' in item ? (
                <div key={i} class="note">
                  {item.note}
                </div>
              ) : (
                <div key={i} class={item.entry.stream}>
                  {item.entry.t} {item.entry.instance.slice(0, 12)} {item.entry.line}
                </div>
              ),
            )}
      </pre>
    </section>
  );
}
