import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SuperviseOptions {
  /** Restarts allowed within `windowMs`; one death more stops the whole run (default 3). */
  restarts?: number;
  windowMs?: number;
  /** Pause before a restart, so a Ctrl-C that reached the whole process group is acted on first. */
  backoffMs?: number;
  /** Called once when the run gave up and was stopped, with a message naming what died and how. */
  onStop: (err: SupervisorGaveUpError) => void;
  /** Called after each restart. */
  onRestart?: (r: Restart) => void;
}

/** A death the run did not survive: `name` died `deaths` times within the window. */
export class SupervisorGaveUpError extends Error {
  override readonly name = 'SupervisorGaveUpError';
  constructor(
    readonly process: string,
    readonly exit: string,
    readonly deaths: number,
    windowMs: number,
    options?: ErrorOptions,
  ) {
    super(
      `the ${process} died (${exit}) ${deaths} times within ${Math.round(windowMs / 1000)} s; stopped everything`,
      options,
    );
  }
}

export interface Restart {
  readonly name: string;
  /** How the process before it ended: "code 1", "signal SIGKILL". */
  readonly exit: string;
}

function exitOf(child: ChildProcess): string {
  return child.signalCode ? `signal ${child.signalCode}` : `code ${child.exitCode}`;
}

/**
 * Restarts the processes of a run when they die, within a budget: more deaths of one process
 * in the window than `restarts` and `giveUp` runs instead (it stops the run). A process that
 * cannot be started again counts as one more death.
 */
export class Supervisor {
  private stopping = false;
  private gaveUp = false;
  private readonly inFlight = new Set<Promise<void>>();
  readonly restarts: Restart[] = [];

  private readonly limit: number;
  private readonly windowMs: number;
  private readonly backoffMs: number;

  /** `giveUp` stops the run; `o.onStop` is left to it, called once everything has stopped. */
  constructor(
    private readonly o: SuperviseOptions,
    private readonly giveUp: (err: SupervisorGaveUpError) => void,
  ) {
    this.limit = o.restarts ?? 3;
    this.windowMs = o.windowMs ?? 60_000;
    this.backoffMs = o.backoffMs ?? 1000;
  }

  /** Watches `child`; when it dies, `start` makes its replacement (which is watched in turn). */
  watch(name: string, child: ChildProcess, start: () => Promise<ChildProcess>): void {
    const deaths: number[] = [];
    const onDeath = (exit: string, cause?: unknown) => {
      if (this.stopping || this.gaveUp) return;
      const now = Date.now();
      deaths.push(now);
      while (deaths.length && (deaths[0] as number) <= now - this.windowMs) deaths.shift();
      if (deaths.length > this.limit) {
        this.gaveUp = true;
        this.giveUp(new SupervisorGaveUpError(name, exit, deaths.length, this.windowMs, { cause }));
        return;
      }
      const attempt = (async () => {
        await sleep(this.backoffMs);
        if (this.stopping || this.gaveUp) return;
        try {
          const next = await start();
          const r = { name, exit };
          this.restarts.push(r);
          this.o.onRestart?.(r);
          follow(next);
        } catch (err) {
          onDeath(`could not be started again: ${(err as Error).message.split('\n')[0]}`, err);
        }
      })();
      this.inFlight.add(attempt);
      void attempt.finally(() => this.inFlight.delete(attempt));
    };
    const follow = (c: ChildProcess) => {
      if (c.exitCode !== null || c.signalCode !== null) onDeath(exitOf(c));
      else c.once('exit', () => onDeath(exitOf(c)));
    };
    follow(child);
  }

  /** No more restarts; resolves once a restart under way has finished (or given up). */
  async stop(): Promise<void> {
    this.stopping = true;
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }
}
