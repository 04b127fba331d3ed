export { type CgroupDriver, type CgroupStats, FreezeTimeoutError } from './cgroups.js';
export { CommandError } from './exec.js';
export type { Egress } from './firewall.js';
export { type HostResidue, residueItems } from './residue.js';
export type { ContainerState, CreateOptions, RunnableImage, RuntimeOptions } from './runtime.js';
export { Container, ContainerStartError, Runtime } from './runtime.js';
export { scratchRuntimeOptions } from './scratch.js';
