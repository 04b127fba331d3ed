export { buildTestImage, nodeBaseLayer, nodeImage, type TestImageName } from './testimages.js';
export {
  type ArchiveFormat,
  type ImageDefinition,
  type LayerDefinition,
  type LayerEntry,
  writeImageArchive,
} from './writer.js';
