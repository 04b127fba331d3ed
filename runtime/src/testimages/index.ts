// The image builder too, for the importers that predate @thaw/runtime/build.
export * from '../build/index.js';
export { buildTestImage, type TestImageName } from './images.js';
