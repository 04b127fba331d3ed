import { OciCli } from './cli.js';
import type { OciDriverOptions } from './types.js';

/**
 * crun, the C OCI runtime (Debian's `crun` package): the same command line as runc, faster to
 * start. For a container that is gone it reports the missing state file rather than runc's
 * "does not exist".
 */
export class Crun extends OciCli {
  constructor(opts: OciDriverOptions) {
    super({ name: 'crun', missing: /does not exist|not exist|No such file or directory/i }, opts);
  }
}
