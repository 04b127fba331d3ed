/** A caller's mistake in what it asked to build: the CLI exits 2 with the message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
