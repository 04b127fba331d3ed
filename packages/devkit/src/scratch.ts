import type { RuntimeOptions } from '@thaw/runtime';

/** The worker environment that makes a worker use these runtime options (see worker/src/env.ts). */
export function workerEnvFor(o: RuntimeOptions): Record<string, string> {
  return {
    THAW_STATE_DIR: o.stateDir,
    THAW_RUN_DIR: o.runDir,
    THAW_CGROUP_PARENT: o.cgroupParent,
    THAW_BRIDGE: o.bridge,
    THAW_SUBNET: o.subnet,
    // Several workers may run on one machine: each serves its metrics on a free port.
    THAW_METRICS_PORT: '0',
  };
}
