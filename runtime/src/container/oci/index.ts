import { Crun } from './crun.js';
import { Runc } from './runc.js';
import type { OciDriverOptions, OciRuntime, OciRuntimeName } from './types.js';

export { OciCli } from './cli.js';
export { Crun } from './crun.js';
export { Runc } from './runc.js';
export type { OciCommands, OciDriverOptions, OciRuntime, OciRuntimeName } from './types.js';

/** The driver for the OCI runtime `name`. */
export function createOciRuntime(name: OciRuntimeName, opts: OciDriverOptions): OciRuntime {
  if (name === 'crun') return new Crun(opts);
  if (name === 'runc') return new Runc(opts);
  throw new Error(`unknown OCI runtime "${String(name)}": runc or crun`);
}
