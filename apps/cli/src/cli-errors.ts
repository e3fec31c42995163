/** Exit codes, documented in the CLI's --help and README. */
export const EXIT = {
  ok: 0,
  /** The API answered with an error, could not be reached, or a file could not be read. */
  failed: 1,
  /** The command line is wrong: unknown command or option, missing or malformed value. */
  usage: 2,
  /** The answer is "no": the chain does not verify, or a watched task did not complete. */
  negative: 3,
} as const;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An error answer of the API (RFC 9457 problem), or no answer at all. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    readonly status?: number,
    readonly fieldErrors: { field: string; message: string }[] = [],
  ) {
    super(message);
  }
}
