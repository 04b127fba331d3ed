export { type CgroupDriver, type CgroupStats, FreezeTimeoutError } from './cgroups/index.js';
export type { Egress } from './network/index.js';
export { type HostResidue, residueItems } from './residue.js';
export type { ContainerState, CreateOptions, RunnableImage, RuntimeOptions } from './runtime.js';
export { Container, ContainerStartError, DEFAULT_DISK_MIB, DEFAULT_INIT, Runtime } from './runtime.js';
export { scratchRuntimeOptions } from './scratch.js';
export { INIT_PATH } from './spec.js';
export { DEFAULT_USERNS_SIZE, ShiftedLayers, type UsernsMapping } from './userns.js';
