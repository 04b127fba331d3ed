export { dirEntries, libraryEntries, sharedLibraries, userEntries } from './libs.js';
export { nodeBaseLayer, nodeImage } from './node.js';
export { HOST_PYTHON, hostPython, type PythonImageOptions, pythonBaseLayer, pythonImage } from './python.js';
export { type ElfInfo, readElf, type StaticImageOptions, staticImage } from './static.js';
export {
  type ArchiveFormat,
  type ImageDefinition,
  type LayerDefinition,
  type LayerEntry,
  writeImageArchive,
} from './writer.js';
