import type { StartPhases } from '@thaw/shared';
import type { CreateOptions } from './options.js';

/** The phases a Runtime measures (the image's is the caller's). */
export type Phases = Omit<StartPhases, 'imageMs' | 'totalMs' | 'cpuMs'> & { cpuMs: number };

/** The label of a bundle made ahead, not yet a container's. */
export const POOLED_LABEL = 'thaw:prepared';

/** A bundle's record.json: enough to tell, after a crash, what the folder was. */
export function recordOf(id: string, label: string): string {
  return JSON.stringify({ id, label, createdAt: Date.now() });
}

/**
 * A prepared container fits a start with the same options: its rootfs (layers, disk size) and
 * its spec (process, limits) were made from them. The label and the readiness wait are not in it.
 */
export function preparedKey(o: CreateOptions, diskMiB: number): string {
  return JSON.stringify([
    diskMiB,
    o.image.layers,
    o.image.config,
    o.port,
    o.env ?? {},
    o.memoryMiB,
    o.pidsLimit,
    o.cpus,
    o.args,
    o.user,
    o.readOnlyRootfs ?? false,
  ]);
}
