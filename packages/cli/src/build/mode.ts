/** How a function directory is started: its language, and the handler, server or binary to run. */
export interface Mode {
  language: 'node' | 'python' | 'binary';
  /** handler: wrapped in a baked runner; server: run as it is; binary: an executable run directly. */
  kind: 'handler' | 'server' | 'binary';
  /** The file under the directory (relative path). */
  file: string;
  /** Python: folders of vendored packages (relative paths) to put on PYTHONPATH. */
  pythonPath?: string[];
  /** Binary: carry the host's shared libraries the binary links (thaw.json "libraries": "host"). */
  hostLibraries?: boolean;
}
