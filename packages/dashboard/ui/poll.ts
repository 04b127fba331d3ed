import { useEffect, useState } from 'preact/hooks';
import { describe } from './api';

/** How often the live parts (functions, instances, figures) are read again. */
export const REFRESH_MS = 2000;

export interface Polled<T> {
  data: T | undefined;
  /** The last read's error (code and message), cleared by the next good read. */
  error: string | undefined;
  /** The raw error of the last read, for views that treat some answers (a 404) apart. */
  failure: unknown;
}

/**
 * Reads `load` now and every REFRESH_MS while the view is shown (and again when `key` changes);
 * a read still running when the view goes is aborted.
 */
export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, key: string): Polled<T> {
  const [state, setState] = useState<Polled<T>>({ data: undefined, error: undefined, failure: undefined });
  useEffect(() => {
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async (): Promise<void> => {
      try {
        const data = await load(ac.signal);
        if (!ac.signal.aborted) setState({ data, error: undefined, failure: undefined });
      } catch (err) {
        if (ac.signal.aborted) return;
        setState((s) => ({ data: s.data, error: describe(err), failure: err }));
      }
      if (!ac.signal.aborted) timer = setTimeout(() => void tick(), REFRESH_MS);
    };
    setState({ data: undefined, error: undefined, failure: undefined });
    void tick();
    return () => {
      ac.abort();
      clearTimeout(timer);
    };
    // `key` names what `load` reads: a new `load` closure each render is the same read.
  }, [key]);
  return state;
}
