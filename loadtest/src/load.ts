/**
 * A closed-loop load: `clients` clients ramped in over one second, each calling `url` again as
 * soon as its previous call ended, until `holdS + 1` seconds after the start. Times are seconds
 * from `t0` (performance.now()), so several loads can share one time axis.
 */
import type { Agent } from 'undici';
import type { Call } from './figures.js';

export async function closedLoop(o: {
  url: string;
  clients: number;
  holdS: number;
  agent: Agent;
  t0: number;
}): Promise<Call[]> {
  const now = () => (performance.now() - o.t0) / 1000;
  const begin = now();
  const calls: Call[] = [];
  await Promise.all(
    Array.from({ length: o.clients }, async (_, i) => {
      await new Promise((r) => setTimeout(r, (i * 1000) / o.clients));
      while (now() < begin + o.holdS + 1) {
        const start = now();
        let status = 0;
        try {
          const res = await fetch(o.url, { dispatcher: o.agent } as RequestInit);
          await res.arrayBuffer();
          status = res.status;
        } catch {
          status = 0;
        }
        calls.push({ start, end: now(), status });
      }
    }),
  );
  return calls;
}
