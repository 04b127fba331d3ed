export { buildTestImage, nodeBaseLayer, nodeImage, type TestImageName } from './testimages.js';
export { writeImageArchive, type ArchiveFormat, type ImageDefinition, type LayerDefinition, type LayerEntry } from './writer.js';
