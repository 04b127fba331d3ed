import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** A pid that exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Waits up to `timeoutMs` for `pid` to end, looking every `intervalMs`; true when it has. For
 * processes that are not our children (a detached container's init): they send no exit event,
 * and a zombie waiting for the host's init to reap it counts as ended.
 */
export async function waitPidExit(pid: number, timeoutMs: number, intervalMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (isRunning(pid)) {
    if (performance.now() >= deadline) return false;
    await sleep(intervalMs);
  }
  return true;
}
