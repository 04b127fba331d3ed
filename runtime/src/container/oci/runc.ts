import { OciCli } from './cli.js';
import type { OciDriverOptions } from './types.js';

/** runc, the reference OCI runtime (Debian's `runc` package). */
export class Runc extends OciCli {
  constructor(opts: OciDriverOptions) {
    super({ name: 'runc', missing: /does not exist|not exist/i }, opts);
  }
}
