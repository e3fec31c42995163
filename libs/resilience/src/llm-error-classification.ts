// Which failures of a model call are worth retrying. Duck-typed (status, headers, name)
// so this leaf library needs no SDK: Anthropic's SDK errors carry exactly these fields.

export type LlmErrorKind = 'rate_limited' | 'overloaded' | 'server_error' | 'timeout' | 'connection' | 'client_error' | 'aborted' | 'unknown';

export interface LlmErrorClassification {
  retryable: boolean;
  kind: LlmErrorKind;
  status?: number;
  retryAfterMs?: number;
}

const RETRYABLE_CLIENT_STATUSES = new Set([408, 409, 429]);

export function classifyLlmError(error: unknown): LlmErrorClassification {
  const candidate = (error ?? {}) as { status?: unknown; headers?: unknown; name?: unknown };
  const name = typeof candidate.name === 'string' ? candidate.name : '';
  if (name === 'APIUserAbortError' || name === 'AbortError') return { retryable: false, kind: 'aborted' };
  if (name === 'APIConnectionTimeoutError') return { retryable: true, kind: 'timeout' };
  if (name === 'APIConnectionError') return { retryable: true, kind: 'connection' };

  const status = typeof candidate.status === 'number' ? candidate.status : undefined;
  if (status === undefined) return { retryable: false, kind: 'unknown' };
  const retryAfterMs = retryAfter(candidate.headers);
  const shouldRetryHeader = header(candidate.headers, 'x-should-retry');
  const kind: LlmErrorKind =
    status === 429 ? 'rate_limited' : status === 529 ? 'overloaded' : status >= 500 ? 'server_error' : status === 408 ? 'timeout' : 'client_error';
  const retryable = shouldRetryHeader === 'false' ? false : shouldRetryHeader === 'true' || status >= 500 || RETRYABLE_CLIENT_STATUSES.has(status);
  return { retryable, kind, status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
}

function header(headers: unknown, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const value = (headers as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/** `retry-after-ms` first (precise), then `retry-after` in seconds or as an HTTP date. */
function retryAfter(headers: unknown): number | undefined {
  const ms = Number(header(headers, 'retry-after-ms'));
  if (Number.isFinite(ms) && ms >= 0 && header(headers, 'retry-after-ms') !== undefined) return ms;
  const value = header(headers, 'retry-after');
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
