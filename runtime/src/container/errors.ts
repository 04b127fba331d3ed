/** A container could not be created or did not become ready; `log` holds its output. */
export class ContainerStartError extends Error {
  override readonly name = 'ContainerStartError';
  constructor(
    message: string,
    readonly log: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
