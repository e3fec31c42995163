import { ExponentialBackoff, fullJitterGenerator, type IBackoff } from 'cockatiel';
import { sleep } from './abort-signals';
import { describeFailure } from './failure-description';
import { classifyLlmError, type LlmErrorClassification, type LlmErrorKind } from './llm-error-classification';
import { ResilienceEvent } from './resilience-event';
import { CallCancelledError, formatDuration } from './resilience-errors';

export interface RetrySettings {
  /** Tries of one model, the first one included. */
  readonly maxAttempts: number;
  /** Ceiling of the first back-off; each next one doubles, up to `maxDelayMs`. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export type GiveUpReason = 'not_retryable' | 'attempts_exhausted' | 'out_of_time';

export interface RetryEvent {
  /** What is being retried: the model. */
  readonly key: string;
  /** The attempt that failed (1-based on this key). */
  readonly attempt: number;
  readonly kind: LlmErrorKind;
  readonly status?: number;
  /** Wait before the next attempt: the jittered back-off, or the server's retry-after when longer. */
  readonly delayMs: number;
  readonly retryAfterMs?: number;
  readonly attemptDurationMs: number;
  readonly elapsedMs: number;
}

export interface GiveUpEvent {
  readonly key: string;
  readonly attempts: number;
  readonly reason: GiveUpReason;
  readonly kind: LlmErrorKind;
  /** Readable: which model, what went wrong, why we stopped. */
  readonly detail: string;
  readonly elapsedMs: number;
}

/** The retry loop stopped on a model-call failure; `message` says why in words. */
export class AttemptsFailedError extends Error {
  override readonly name = 'AttemptsFailedError';
  constructor(
    readonly key: string,
    readonly reason: GiveUpReason,
    readonly attempts: number,
    readonly classification: LlmErrorClassification,
    detail: string,
    options: { cause: unknown },
  ) {
    super(detail, options);
  }
}

export interface RetryExecuteOptions {
  readonly key: string;
  /** The caller's signal: aborting it stops the loop at once, back-off sleeps included. */
  readonly signal: AbortSignal;
  /** Epoch ms after which no new attempt starts: a wait that would cross it gives up instead. */
  readonly deadline?: number;
  /** Narrows retrying further than `retryable` (e.g. an overloaded model with a fallback is left at once). */
  readonly retryWhen?: (classification: LlmErrorClassification) => boolean;
}

/** Kinds a loop on one model never retries: the breaker or the bulkhead decides, not a sleep. */
const NOT_RETRIED_IN_LOOP: ReadonlySet<LlmErrorKind> = new Set(['circuit_open', 'bulkhead_full']);

/**
 * Retry with exponential back-off and full jitter (cockatiel's generator), bounded in
 * attempts AND in time, honouring `retry-after`. What cockatiel's own retry() lacks and
 * this adds: the server's retry-after as a floor, giving up (with a reason) rather than
 * sleeping past the deadline, and sleeps that end the moment the caller aborts.
 *
 * Errors that are not model-call failures (kind `unknown`: a budget denial, a bug) pass
 * through untouched; model-call failures end as `AttemptsFailedError`.
 */
export class RetryPolicy {
  private readonly retryEvent = new ResilienceEvent<RetryEvent>();
  private readonly giveUpEvent = new ResilienceEvent<GiveUpEvent>();
  readonly onRetry = this.retryEvent.subscribe;
  readonly onGiveUp = this.giveUpEvent.subscribe;

  constructor(
    private readonly settings: RetrySettings,
    private readonly classify: (error: unknown) => LlmErrorClassification = classifyLlmError,
  ) {
    if (!Number.isInteger(settings.maxAttempts) || settings.maxAttempts < 1) {
      throw new RangeError(`maxAttempts must be a positive integer, got ${settings.maxAttempts}`);
    }
  }

  async execute<T>(fn: (attempt: number) => Promise<T>, options: RetryExecuteOptions): Promise<T> {
    const started = Date.now();
    const backoffs = new ExponentialBackoff({
      generator: fullJitterGenerator,
      initialDelay: this.settings.initialDelayMs,
      maxDelay: this.settings.maxDelayMs,
    });
    let backoff: IBackoff<unknown> | undefined;
    for (let attempt = 1; ; attempt++) {
      if (options.signal.aborted) throw new CallCancelledError({ cause: options.signal.reason });
      const attemptStarted = Date.now();
      try {
        return await fn(attempt);
      } catch (error) {
        if (options.signal.aborted) throw new CallCancelledError({ cause: error });
        const classification = this.classify(error);
        if (classification.kind === 'unknown' || classification.kind === 'aborted') throw error;
        const giveUp = (reason: GiveUpReason, detail: string): never => {
          this.giveUpEvent.emit({ key: options.key, attempts: attempt, reason, kind: classification.kind, detail, elapsedMs: Date.now() - started });
          throw new AttemptsFailedError(options.key, reason, attempt, classification, detail, { cause: error });
        };
        const failure = `${options.key} ${describeFailure(classification)}`;
        const retryable = classification.retryable && !NOT_RETRIED_IN_LOOP.has(classification.kind) && (options.retryWhen?.(classification) ?? true);
        if (!retryable) giveUp('not_retryable', failure);
        if (attempt >= this.settings.maxAttempts) giveUp('attempts_exhausted', `${failure}; gave up after ${attempt} attempts`);

        backoff = backoff ? backoff.next(undefined) : backoffs.next();
        const delayMs = Math.max(backoff.duration, classification.retryAfterMs ?? 0);
        const now = Date.now();
        if (options.deadline !== undefined && now + delayMs >= options.deadline) {
          const left = formatDuration(Math.max(0, options.deadline - now));
          const wait =
            classification.retryAfterMs !== undefined && classification.retryAfterMs >= backoff.duration
              ? `asked to wait ${formatDuration(classification.retryAfterMs)}`
              : `the next retry would wait ${formatDuration(delayMs)}`;
          giveUp('out_of_time', `${failure} and ${wait}, more than the ${left} left of the call's time budget`);
        }
        this.retryEvent.emit({
          key: options.key,
          attempt,
          kind: classification.kind,
          ...(classification.status !== undefined ? { status: classification.status } : {}),
          delayMs,
          ...(classification.retryAfterMs !== undefined ? { retryAfterMs: classification.retryAfterMs } : {}),
          attemptDurationMs: now - attemptStarted,
          elapsedMs: now - started,
        });
        try {
          await sleep(delayMs, options.signal);
        } catch (reason) {
          throw new CallCancelledError({ cause: reason });
        }
      }
    }
  }
}
