export { CniNetwork } from './cni.js';
export { BridgeFirewall, type Egress } from './firewall.js';
export type { Attachment, NetworkDriver, NetworkOptions, NetworkResidue } from './types.js';
