const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P03', '08006', '08001', '08003']);

/** True when an error means "Postgres is not reachable right now" (an API answers 503, a consumer retries), not a bug. */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error as { code?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0; current && depth < 5; depth++) {
    if (typeof current.code === 'string' && CONNECTION_CODES.has(current.code)) return true;
    if (typeof current.message === 'string' && /Connection terminated|connect ECONNREFUSED|Can't reach database|DatabaseNotReachable/i.test(current.message)) return true;
    current = current.cause as typeof current;
  }
  return false;
}
