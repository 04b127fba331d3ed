export { Container, ContainerStartError, Runtime } from './runtime.js';
export type { ContainerState, CreateOptions, RunnableImage, RuntimeOptions } from './runtime.js';
export type { HostResidue } from './residue.js';
export { FreezeTimeoutError, type CgroupDriver, type CgroupStats } from './cgroups.js';
export { CommandError } from './exec.js';
export { scratchRuntimeOptions } from './scratch.js';
