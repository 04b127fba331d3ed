export { RegistryClient } from './client.js';
export { pullToSpool } from './pull.js';
export {
  type Credentials,
  type ImageReference,
  isRegistryError,
  type PullOptions,
  parseChallenge,
  parseReference,
  RegistryError,
  type RegistryErrorKind,
  registryScheme,
} from './reference.js';
