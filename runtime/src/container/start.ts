import type { StartPhases } from '@thaw/shared';
import type { RunnableImage } from './options.js';

/** The phases a Runtime measures (the image's is the caller's). */
export type Phases = Omit<StartPhases, 'imageMs' | 'totalMs' | 'cpuMs'> & { cpuMs: number };

/** The label of a bundle made ahead, not yet a container's. */
export const POOLED_LABEL = 'thaw:prepared';

/** A bundle's record.json: enough to tell, after a crash, what the folder was. */
export function recordOf(id: string, label: string): string {
  return JSON.stringify({ id, label, createdAt: Date.now() });
}

/** Prepared root filesystems fit a start with the same layers and the same disk size. */
export function preparedKey(image: RunnableImage, diskMiB: number): string {
  return `${diskMiB}\n${image.layers.join('\n')}`;
}
