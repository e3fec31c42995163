import { bulkhead, type BulkheadPolicy, isBulkheadRejectedError } from 'cockatiel';
import { ResilienceEvent } from './resilience-event';
import { BulkheadFullError, CallCancelledError } from './resilience-errors';

export interface BulkheadSettings {
  /** Model calls running at once in this process. */
  readonly maxConcurrent: number;
  /** Calls waiting for a slot; one more is refused with `BulkheadFullError`. */
  readonly maxQueued: number;
}

export interface BulkheadRejectedEvent {
  readonly maxConcurrent: number;
  readonly maxQueued: number;
}

/**
 * Limits concurrent model calls per process (cockatiel's bulkhead). Adds what cockatiel
 * lacks: a call still waiting in the queue leaves at once when its signal aborts (a
 * running one is cancelled cooperatively by the same signal and awaited), and the
 * rejection is our typed error.
 */
export class CallBulkhead {
  private readonly policy: BulkheadPolicy;
  private readonly rejected = new ResilienceEvent<BulkheadRejectedEvent>();
  readonly onRejected = this.rejected.subscribe;

  constructor(private readonly settings: BulkheadSettings) {
    if (!Number.isInteger(settings.maxConcurrent) || settings.maxConcurrent < 1) {
      throw new RangeError(`maxConcurrent must be a positive integer, got ${settings.maxConcurrent}`);
    }
    if (!Number.isInteger(settings.maxQueued) || settings.maxQueued < 0) {
      throw new RangeError(`maxQueued must be a non-negative integer, got ${settings.maxQueued}`);
    }
    this.policy = bulkhead(settings.maxConcurrent, settings.maxQueued);
  }

  /** Calls running now. */
  get running(): number {
    return this.settings.maxConcurrent - this.policy.executionSlots;
  }

  /** Calls waiting for a slot now. */
  get queued(): number {
    return this.settings.maxQueued - this.policy.queueSlots;
  }

  async execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) throw new CallCancelledError({ cause: signal.reason });
    let started = false;
    const run = this.policy.execute(() => {
      started = true;
      return fn(signal);
    }, signal);
    let onAbort: (() => void) | undefined;
    const leftQueue = new Promise<never>((_, reject) => {
      onAbort = () => {
        if (!started) reject(new CallCancelledError({ cause: signal.reason }));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([run, leftQueue]);
    } catch (error) {
      if (isBulkheadRejectedError(error)) {
        this.rejected.emit({ maxConcurrent: this.settings.maxConcurrent, maxQueued: this.settings.maxQueued });
        throw new BulkheadFullError(this.settings.maxConcurrent, this.settings.maxQueued);
      }
      throw error;
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
      // A call that left the queue is rejected by cockatiel later, when a slot frees.
      run.catch(() => undefined);
    }
  }
}
