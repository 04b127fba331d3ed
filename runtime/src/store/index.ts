export {
  ImageDigestMismatchError,
  ImageInvalidError,
  isImageInvalidError,
  UnsafeLayerEntryError,
} from './errors.js';
export { canonicalManifest, type Descriptor, type Manifest, MediaType } from './manifest.js';
export {
  type Credentials,
  type ImageReference,
  isRegistryError,
  type PullOptions,
  parseReference,
  RegistryError,
  type RegistryErrorKind,
  registryScheme,
} from './registry/index.js';
export { type ImageConfig, ImageStore, type ImageStoreOptions, type StoredImage } from './store.js';
