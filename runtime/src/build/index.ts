export { nodeBaseLayer, nodeImage } from './node.js';
export {
  type ArchiveFormat,
  type ImageDefinition,
  type LayerDefinition,
  type LayerEntry,
  writeImageArchive,
} from './writer.js';
