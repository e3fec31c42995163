import { linkSignals } from './abort-signals';
import { withAttemptTimeout } from './attempt-timeout';
import { type BulkheadSettings, CallBulkhead } from './call-bulkhead';
import type { CircuitBreakerRegistry } from './circuit-breaker-registry';
import { classifyLlmError, type LlmErrorClassification, type LlmErrorKind } from './llm-error-classification';
import { ResilienceEvent } from './resilience-event';
import {
  type AttemptRecord,
  BulkheadFullError,
  CallCancelledError,
  formatDuration,
  ModelCallFailedError,
  type ModelOptionRecord,
} from './resilience-errors';
import { AttemptsFailedError, type GiveUpEvent, type RetryEvent, RetryPolicy, type RetrySettings } from './retry-policy';

/** How one model call (one step-kind's call) is run: data, resolved per step kind. */
export interface CallPolicySettings {
  /** Models to try in order; the first is the one routing chose. */
  readonly models: readonly string[];
  /** Limit of one attempt (one HTTP call). */
  readonly attemptTimeoutMs: number;
  /** Limit of the whole call: queueing, every attempt and back-off, every fallback. */
  readonly totalTimeoutMs: number;
  /** Retries of each model. */
  readonly retry: RetrySettings;
  /** Failure kinds that move on to the next model instead of retrying this one. */
  readonly fallbackOn: readonly LlmErrorKind[];
}

/** What the single-attempt function gets: one model, one try, one signal to honour. */
export interface LlmAttempt {
  readonly model: string;
  /** 1-based across the whole call, fallbacks included: the `<try>` of the ledger's attempt id. */
  readonly attempt: number;
  /** Aborts on the attempt's timeout, the call's time budget, or the caller's own signal. */
  readonly signal: AbortSignal;
}

export interface LlmCallOutcome<T> {
  readonly value: T;
  /** The model that served. */
  readonly model: string;
  /** True when it was not the first choice: say so in the audit trail and the step's metadata. */
  readonly fellBack: boolean;
  readonly options: readonly ModelOptionRecord[];
  readonly attempts: readonly AttemptRecord[];
  readonly durationMs: number;
}

export interface FallbackEvent {
  readonly from: string;
  readonly to: string;
  readonly kind: LlmErrorKind;
  /** Readable: why `from` was left. */
  readonly reason: string;
}

export type AttemptEvent = AttemptRecord;

export interface LlmCallPolicyOptions {
  readonly bulkhead: BulkheadSettings;
  /** Shared by every call of the process: one breaker per model. */
  readonly breakers: CircuitBreakerRegistry;
  readonly classify?: (error: unknown) => LlmErrorClassification;
}

/**
 * Every failure of a model call handled by policy, in one `execute`:
 *
 *   bulkhead → fallback over models → retry → circuit breaker (per model) → timeout → fn
 *
 * The breaker sits inside the retry so that every attempt that reaches the model counts
 * towards its health, and an open breaker ends the retries of that model at once (the
 * fallback moves on) instead of after back-offs. `fn` performs ONE attempt and records
 * it itself (the ledger); policies never log or count, they emit typed events.
 *
 * Failures that are not model-call failures (e.g. a budget denial thrown by `fn`) come
 * out untouched; model-call failures come out as `ModelCallFailedError` with a readable
 * reason; the caller's abort as `CallCancelledError`.
 */
export class LlmCallPolicy {
  readonly breakers: CircuitBreakerRegistry;
  private readonly bulkhead: CallBulkhead;
  private readonly classify: (error: unknown) => LlmErrorClassification;
  private readonly retryEvent = new ResilienceEvent<RetryEvent>();
  private readonly giveUpEvent = new ResilienceEvent<GiveUpEvent>();
  private readonly fallbackEvent = new ResilienceEvent<FallbackEvent>();
  private readonly attemptEvent = new ResilienceEvent<AttemptEvent>();
  /** Before each back-off sleep, with its delay and the failure's kind. */
  readonly onRetry = this.retryEvent.subscribe;
  /** A model's retries ended without success. */
  readonly onGiveUp = this.giveUpEvent.subscribe;
  /** The call moved on to the next model of its chain. */
  readonly onFallback = this.fallbackEvent.subscribe;
  /** Every attempt that reached the model, with its duration and outcome. */
  readonly onAttempt = this.attemptEvent.subscribe;
  readonly onBulkheadRejected;

  constructor(options: LlmCallPolicyOptions) {
    this.breakers = options.breakers;
    this.bulkhead = new CallBulkhead(options.bulkhead);
    this.classify = options.classify ?? classifyLlmError;
    this.onBulkheadRejected = this.bulkhead.onRejected;
  }

  async execute<T>(settings: CallPolicySettings, fn: (attempt: LlmAttempt) => Promise<T>, options: { signal?: AbortSignal } = {}): Promise<LlmCallOutcome<T>> {
    if (settings.models.length === 0) throw new RangeError('a call policy needs at least one model');
    const callerSignal = options.signal ?? new AbortController().signal;
    const started = Date.now();
    const deadline = started + settings.totalTimeoutMs;
    const budget = new AbortController();
    const budgetTimer = setTimeout(() => budget.abort(new Error('call time budget exhausted')), settings.totalTimeoutMs);
    const linked = linkSignals(callerSignal, budget.signal);
    try {
      return await this.bulkhead.execute((signal) => this.runChain(settings, fn, signal, deadline, started), linked.signal);
    } catch (error) {
      if (error instanceof CallCancelledError && !callerSignal.aborted) {
        const reason = `The model call ran out of its ${formatDuration(settings.totalTimeoutMs)} time budget`;
        throw new ModelCallFailedError(`${reason}.`, true, 'timeout', [], [], { cause: error });
      }
      if (error instanceof BulkheadFullError) throw new ModelCallFailedError(`The model call was not made: ${error.message}.`, true, 'bulkhead_full', [], [], { cause: error });
      throw error;
    } finally {
      clearTimeout(budgetTimer);
      linked.dispose();
    }
  }

  private async runChain<T>(
    settings: CallPolicySettings,
    fn: (attempt: LlmAttempt) => Promise<T>,
    signal: AbortSignal,
    deadline: number,
    started: number,
  ): Promise<LlmCallOutcome<T>> {
    const retry = new RetryPolicy(settings.retry, this.classify);
    const forwarding = [retry.onRetry((event) => this.retryEvent.emit(event)), retry.onGiveUp((event) => this.giveUpEvent.emit(event))];
    const fallbackOn = new Set(settings.fallbackOn);
    const attempts: AttemptRecord[] = [];
    const options: ModelOptionRecord[] = [];
    const notTried = (from: number): ModelOptionRecord[] => settings.models.slice(from).map((model) => ({ model, outcome: 'not_tried', attempts: 0 }));
    try {
      for (const [index, model] of settings.models.entries()) {
        const next = settings.models[index + 1];
        let reached = 0;
        const attemptOnce = () =>
          this.breakers.execute(
            model,
            (breakerSignal) =>
              withAttemptTimeout(model, Math.max(1, Math.min(settings.attemptTimeoutMs, deadline - Date.now())), breakerSignal, async (attemptSignal) => {
                reached++;
                const attempt = attempts.length + 1;
                const attemptStarted = Date.now();
                const record = (outcome: 'success' | 'failure', classification?: LlmErrorClassification) => {
                  const entry: AttemptRecord = {
                    model,
                    attempt,
                    outcome,
                    durationMs: Date.now() - attemptStarted,
                    ...(classification ? { kind: classification.kind } : {}),
                    ...(classification?.status !== undefined ? { status: classification.status } : {}),
                  };
                  attempts.push(entry);
                  this.attemptEvent.emit(entry);
                };
                try {
                  const value = await fn({ model, attempt, signal: attemptSignal });
                  record('success');
                  return value;
                } catch (error) {
                  record('failure', attemptSignal.aborted && !breakerSignal.aborted ? { retryable: true, kind: 'timeout' } : this.classify(error));
                  throw error;
                }
              }),
            signal,
          );
        try {
          const value = await retry.execute(attemptOnce, {
            key: model,
            signal,
            deadline,
            retryWhen: (classification) => !(next !== undefined && fallbackOn.has(classification.kind)),
          });
          options.push({ model, outcome: 'served', attempts: reached }, ...notTried(index + 1));
          return { value, model, fellBack: index > 0, options, attempts, durationMs: Date.now() - started };
        } catch (error) {
          if (!(error instanceof AttemptsFailedError)) throw error;
          const { kind } = error.classification;
          // The breaker may open during this model's own retries: say so rather than "skipped".
          const reason = kind === 'circuit_open' && reached > 0 ? `${model} failed ${reached} times and its circuit breaker opened` : error.message;
          options.push({ model, outcome: reached === 0 ? 'skipped' : 'failed', reason, kind, attempts: reached });
          if (next !== undefined && fallbackOn.has(kind)) {
            this.fallbackEvent.emit({ from: model, to: next, kind, reason });
            continue;
          }
          options.push(...notTried(index + 1));
          throw new ModelCallFailedError(readableReason(options), error.classification.retryable, kind, options, attempts, { cause: error.cause });
        }
      }
      throw new Error('unreachable: the last model either serves or throws');
    } finally {
      forwarding.forEach((subscription) => subscription.dispose());
    }
  }
}

function readableReason(options: readonly ModelOptionRecord[]): string {
  const reasons = options.filter((option) => option.reason).map((option) => option.reason);
  const lead = reasons.length > 1 ? 'No model could answer' : 'The model call failed';
  return `${lead}: ${reasons.join('; ')}.`;
}
