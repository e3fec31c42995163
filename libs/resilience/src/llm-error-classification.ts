import { isBrokenCircuitError, isBulkheadRejectedError, isIsolatedCircuitError, isTaskCancelledError } from 'cockatiel';
import { AttemptTimeoutError, BulkheadFullError, CallCancelledError, CircuitOpenError } from './resilience-errors';

// Which failures of a model call are worth retrying. Duck-typed (status, headers, name)
// so this leaf library needs no SDK: Anthropic's SDK errors carry exactly these fields.

export type LlmErrorKind =
  | 'rate_limited'
  | 'overloaded'
  | 'server_error'
  | 'timeout'
  | 'connection'
  | 'client_error'
  | 'circuit_open'
  | 'bulkhead_full'
  | 'aborted'
  /** Not a model-call failure (a budget denial, a bug): the policies pass it through untouched. */
  | 'unknown';

export const LLM_ERROR_KINDS: readonly LlmErrorKind[] = [
  'rate_limited',
  'overloaded',
  'server_error',
  'timeout',
  'connection',
  'client_error',
  'circuit_open',
  'bulkhead_full',
  'aborted',
  'unknown',
];

export interface LlmErrorClassification {
  /** A later try of the same call may succeed. */
  retryable: boolean;
  kind: LlmErrorKind;
  status?: number;
  retryAfterMs?: number;
  /** Low-cardinality `error.type` for spans and metrics: the API's error type, else the status or the kind. */
  errorType?: string;
}

const RETRYABLE_CLIENT_STATUSES = new Set([408, 409, 429]);
const MAX_CAUSE_DEPTH = 5;

export function classifyLlmError(error: unknown): LlmErrorClassification {
  return classify(error, 0);
}

function classify(error: unknown, depth: number): LlmErrorClassification {
  const own = classifyOwn(error);
  if (own) return own;
  const candidate = (error ?? {}) as { status?: unknown; headers?: unknown; name?: unknown; classification?: unknown; cause?: unknown };
  // A gateway error that was classified where it was caught (LlmCallError).
  if (isClassification(candidate.classification)) return candidate.classification;
  const name = typeof candidate.name === 'string' ? candidate.name : '';
  if (name === 'APIUserAbortError' || name === 'AbortError') return { retryable: false, kind: 'aborted', errorType: 'aborted' };
  if (name === 'APIConnectionTimeoutError') return { retryable: true, kind: 'timeout', errorType: 'timeout' };
  if (name === 'APIConnectionError') return { retryable: true, kind: 'connection', errorType: 'connection_error' };

  const status = typeof candidate.status === 'number' ? candidate.status : undefined;
  if (status === undefined) {
    const network = classifyNetworkFailure(error);
    if (network) return network;
    return depth < MAX_CAUSE_DEPTH && candidate.cause !== undefined ? classify(candidate.cause, depth + 1) : { retryable: false, kind: 'unknown' };
  }
  const retryAfterMs = retryAfter(candidate.headers);
  const shouldRetryHeader = header(candidate.headers, 'x-should-retry');
  const kind: LlmErrorKind =
    status === 429 ? 'rate_limited' : status === 529 ? 'overloaded' : status >= 500 ? 'server_error' : status === 408 ? 'timeout' : 'client_error';
  const retryable = shouldRetryHeader === 'false' ? false : shouldRetryHeader === 'true' || status >= 500 || RETRYABLE_CLIENT_STATUSES.has(status);
  return { retryable, kind, status, errorType: apiErrorType(error) ?? String(status), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
}

/** Errors the policies themselves raise (ours and cockatiel's). */
function classifyOwn(error: unknown): LlmErrorClassification | undefined {
  if (error instanceof AttemptTimeoutError) return { retryable: true, kind: 'timeout', errorType: 'timeout' };
  if (error instanceof CircuitOpenError || isBrokenCircuitError(error) || isIsolatedCircuitError(error)) {
    return { retryable: true, kind: 'circuit_open', errorType: 'circuit_open' };
  }
  if (error instanceof BulkheadFullError || isBulkheadRejectedError(error)) return { retryable: true, kind: 'bulkhead_full', errorType: 'bulkhead_full' };
  if (error instanceof CallCancelledError || isTaskCancelledError(error)) return { retryable: false, kind: 'aborted', errorType: 'aborted' };
  return undefined;
}

const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const CONNECTION_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/**
 * A connection that failed below the SDK: the answer was cut mid-body (fetch's
 * `TypeError: terminated`, which the SDK passes through or wraps) or the socket failed.
 * Retryable: nothing of a cut answer is ever used.
 */
function classifyNetworkFailure(error: unknown): LlmErrorClassification | undefined {
  const candidate = error as { code?: unknown; message?: unknown };
  const code = typeof candidate?.code === 'string' ? candidate.code : undefined;
  if (code && TIMEOUT_CODES.has(code)) return { retryable: true, kind: 'timeout', errorType: 'timeout' };
  if ((code && CONNECTION_CODES.has(code)) || (error instanceof Error && error.message === 'terminated')) {
    return { retryable: true, kind: 'connection', errorType: 'connection_error' };
  }
  return undefined;
}

function isClassification(value: unknown): value is LlmErrorClassification {
  const candidate = value as LlmErrorClassification | undefined;
  return typeof candidate?.retryable === 'boolean' && LLM_ERROR_KINDS.includes(candidate.kind);
}

/** The Anthropic error envelope's `error.type` (`overloaded_error`, `invalid_request_error`, ...). */
function apiErrorType(error: unknown): string | undefined {
  const candidate = error as { type?: unknown; error?: { error?: { type?: unknown } } };
  const type = typeof candidate.type === 'string' ? candidate.type : candidate.error?.error?.type;
  return typeof type === 'string' && /^[a-z_]{1,64}$/.test(type) ? type : undefined;
}

function header(headers: unknown, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const value = (headers as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/** `retry-after-ms` first (precise), then `retry-after` in seconds or as an HTTP date. */
function retryAfter(headers: unknown): number | undefined {
  const precise = header(headers, 'retry-after-ms');
  const ms = Number(precise);
  if (precise !== undefined && precise.trim() !== '' && Number.isFinite(ms) && ms >= 0) return ms;
  const value = header(headers, 'retry-after');
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
