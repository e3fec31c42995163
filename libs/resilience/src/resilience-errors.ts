// Named errors of the policies, each carrying what a caller needs to decide and to tell
// a user what happened. Messages never include upstream response text: it may echo
// request content.

/** One attempt ran past its time limit; our timer aborted it. Retryable. */
export class AttemptTimeoutError extends Error {
  override readonly name = 'AttemptTimeoutError';
  constructor(
    readonly model: string,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`${model} did not answer within ${formatDuration(timeoutMs)}`, options);
  }
}

/** The model's circuit breaker is open: calls fail fast until it half-opens. */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  constructor(
    readonly model: string,
    /** When the breaker lets a probe call through (epoch ms), when known. */
    readonly halfOpensAt: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(`${model} is failing and its circuit breaker is open; calls are refused for now`, options);
  }
}

/** Every concurrent-call slot of this process is busy and the waiting queue is full. */
export class BulkheadFullError extends Error {
  override readonly name = 'BulkheadFullError';
  constructor(
    readonly maxConcurrent: number,
    readonly maxQueued: number,
  ) {
    super(`too many model calls in progress (${maxConcurrent} running, ${maxQueued} waiting); try again later`);
  }
}

/** The caller's signal aborted the call (cancel, shutdown). Never retried. */
export class CallCancelledError extends Error {
  override readonly name = 'CallCancelledError';
  constructor(options?: { cause?: unknown }) {
    super('the model call was cancelled', options);
  }
}

/** How one option of the fallback chain ended; goes to the audit trail and step metadata. */
export interface ModelOptionRecord {
  readonly model: string;
  readonly outcome: 'served' | 'failed' | 'skipped' | 'not_tried';
  /** Why it did not serve, in words a user can read. */
  readonly reason?: string;
  /** The classification kind of its last failure (`overloaded`, `circuit_open`, ...). */
  readonly kind?: string;
  readonly attempts: number;
}

/** One try of one model: what the ledger recorded, from the policy's side. */
export interface AttemptRecord {
  readonly model: string;
  /** 1-based across the whole call, fallbacks included (the `<try>` of the attempt id). */
  readonly attempt: number;
  readonly outcome: 'success' | 'failure';
  readonly kind?: string;
  readonly status?: number;
  readonly durationMs: number;
}

/**
 * The call failed for good: every option of the chain was tried or skipped. `message`
 * is the readable reason for the step's error; `retryable` says whether the same call
 * may succeed later (a redelivery), as after an outage or an open circuit.
 */
export class ModelCallFailedError extends Error {
  override readonly name = 'ModelCallFailedError';
  constructor(
    message: string,
    readonly retryable: boolean,
    /** Kind of the failure that ended the call. */
    readonly kind: string,
    readonly options: readonly ModelOptionRecord[],
    readonly attempts: readonly AttemptRecord[],
    errorOptions?: { cause?: unknown },
  ) {
    super(message, errorOptions);
  }
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  return seconds < 60 ? `${Number(seconds.toFixed(1))} s` : `${Number((seconds / 60).toFixed(1))} min`;
}
