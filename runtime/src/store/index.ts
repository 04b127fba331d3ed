export { ImageStore, type ImageConfig, type ImageStoreOptions, type StoredImage } from './store.js';
export { ImageDigestMismatchError, ImageInvalidError, UnsafeLayerEntryError, isImageInvalidError } from './errors.js';
export { canonicalManifest, MediaType, type Descriptor, type Manifest } from './manifest.js';
