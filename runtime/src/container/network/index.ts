export { CniNetwork } from './cni.js';
export { BridgeFirewall, bridgeAddress, type Egress } from './firewall.js';
export { openLowPorts } from './ports.js';
export type { Attachment, Firewall, NetworkDriver, NetworkOptions, NetworkResidue } from './types.js';
