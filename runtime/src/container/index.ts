export {
  type CgroupDriver,
  type CgroupManager,
  type CgroupStats,
  FreezeTimeoutError,
} from './cgroups/index.js';
export { Container, type ContainerOptions, type ContainerState } from './container.js';
export { createDrivers, type RuntimeDrivers } from './drivers.js';
export { ContainerStartError } from './errors.js';
export type { Egress, Firewall, NetworkDriver } from './network/index.js';
export { bridgeAddress } from './network/index.js';
export type { OciRuntime, OciRuntimeName } from './oci/index.js';
export type { CreateOptions, RunnableImage, RuntimeOptions } from './options.js';
export { DEFAULT_DISK_MIB, DEFAULT_INIT } from './options.js';
export type { ReadinessProbe } from './ready.js';
export { type HostResidue, residueItems } from './residue.js';
export { DEFAULT_USERNS_SIZE, ShiftedLayers, type UsernsMapping } from './rootfs/userns.js';
export { Runtime } from './runtime.js';
export { scratchRuntimeOptions } from './scratch.js';
export { INIT_PATH } from './spec/spec.js';
