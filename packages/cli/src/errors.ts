/** Exit codes scripts can rely on. */
export const Exit = {
  ok: 0,
  /** The gateway answered an error (its catalogue code is printed), or a function answered >= 400. */
  api: 1,
  /** Bad flags or arguments. */
  usage: 2,
  /** The gateway could not be reached. */
  unreachable: 3,
} as const;

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exit: number,
    readonly code?: string,
  ) {
    super(message);
  }
}
