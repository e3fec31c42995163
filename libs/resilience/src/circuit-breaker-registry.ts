import {
  CircuitBreakerPolicy,
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  handleWhen,
  type IBreaker,
  type IDisposable,
  isBrokenCircuitError,
  isIsolatedCircuitError,
  SamplingBreaker,
} from 'cockatiel';
import { classifyLlmError, type LlmErrorClassification, type LlmErrorKind } from './llm-error-classification';
import { ResilienceEvent } from './resilience-event';
import { CircuitOpenError } from './resilience-errors';

export type CircuitStateName = 'closed' | 'open' | 'half-open';

/** `atelier_circuit_state` values: 0 closed, 1 open, 2 half-open. */
export const CIRCUIT_STATE_VALUES: Readonly<Record<CircuitStateName, number>> = { closed: 0, open: 1, 'half-open': 2 };

export interface CircuitBreakerSettings {
  /** Opens after this many failures in a row. */
  readonly consecutiveFailures: number;
  /** Also opens when this share of calls failed over the window, once `minimumCalls` were made in it. */
  readonly failureRate?: { readonly threshold: number; readonly windowMs: number; readonly minimumCalls: number };
  /** How long an open breaker refuses calls before it lets one probe through. */
  readonly halfOpenAfterMs: number;
  /** Failure kinds that say the endpoint is unwell. A 400 or a rate limit does not. */
  readonly countedKinds?: readonly LlmErrorKind[];
}

export const DEFAULT_COUNTED_KINDS: readonly LlmErrorKind[] = ['overloaded', 'server_error', 'timeout', 'connection'];

export interface CircuitStateChange {
  /** The breaker's key: the model. */
  readonly key: string;
  readonly state: CircuitStateName;
  readonly previous: CircuitStateName;
  /** Epoch ms. */
  readonly at: number;
  /** Set when it opened: when it will let a probe through. */
  readonly halfOpensAt?: number;
  /** Set when it opened: the kind of failure that tipped it. */
  readonly kind?: LlmErrorKind;
}

interface BreakerEntry {
  readonly policy: CircuitBreakerPolicy;
  state: CircuitStateName;
  halfOpensAt?: number;
  halfOpenTimer?: ReturnType<typeof setTimeout>;
  readonly subscriptions: IDisposable[];
}

/**
 * One circuit breaker per model endpoint (cockatiel's, consecutive OR sampled failure
 * rate), created on first use. What cockatiel lacks and this adds: cockatiel moves from
 * open to half-open only when a call arrives, but an agent that paused its consumer
 * makes no calls; so a timer announces `half-open` when the delay is over, the agent
 * resumes, and its next call is the probe that closes or re-opens the breaker.
 */
export class CircuitBreakerRegistry {
  private readonly breakers = new Map<string, BreakerEntry>();
  private readonly stateChange = new ResilienceEvent<CircuitStateChange>();
  /** Every state change of every breaker, in order. */
  readonly onStateChange = this.stateChange.subscribe;
  private readonly counted: ReadonlySet<LlmErrorKind>;

  constructor(
    private readonly settings: CircuitBreakerSettings,
    private readonly classify: (error: unknown) => LlmErrorClassification = classifyLlmError,
  ) {
    if (!Number.isInteger(settings.consecutiveFailures) || settings.consecutiveFailures < 1) {
      throw new RangeError(`consecutiveFailures must be a positive integer, got ${settings.consecutiveFailures}`);
    }
    this.counted = new Set(settings.countedKinds ?? DEFAULT_COUNTED_KINDS);
  }

  state(key: string): CircuitStateName {
    return this.breakers.get(key)?.state ?? 'closed';
  }

  /** When `key`'s open breaker lets a probe through (epoch ms); undefined unless it is open. */
  halfOpensAt(key: string): number | undefined {
    const entry = this.breakers.get(key);
    return entry?.state === 'open' ? entry.halfOpensAt : undefined;
  }

  /** Every breaker created so far with its state (for a gauge's first value). */
  states(): ReadonlyMap<string, CircuitStateName> {
    return new Map([...this.breakers].map(([key, entry]) => [key, entry.state]));
  }

  /** Runs `fn` through `key`'s breaker; an open breaker throws `CircuitOpenError` without calling it. */
  async execute<T>(key: string, fn: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    const entry = this.entry(key);
    try {
      return await entry.policy.execute(({ signal: inner }) => fn(inner), signal);
    } catch (error) {
      if (isBrokenCircuitError(error) || isIsolatedCircuitError(error)) throw new CircuitOpenError(key, entry.halfOpensAt, { cause: error });
      throw error;
    }
  }

  /** Stops the half-open timers and drops every breaker. */
  dispose(): void {
    for (const entry of this.breakers.values()) {
      clearTimeout(entry.halfOpenTimer);
      entry.subscriptions.forEach((subscription) => subscription.dispose());
    }
    this.breakers.clear();
  }

  private entry(key: string): BreakerEntry {
    const existing = this.breakers.get(key);
    if (existing) return existing;
    const policy = circuitBreaker(
      handleWhen((error) => this.counted.has(this.classify(error).kind)),
      { halfOpenAfter: this.settings.halfOpenAfterMs, breaker: this.createBreaker() },
    );
    const entry: BreakerEntry = { policy, state: 'closed', subscriptions: [] };
    let lastFailureKind: LlmErrorKind | undefined;
    entry.subscriptions.push(
      policy.onBreak((reason) => {
        lastFailureKind = 'error' in reason ? this.classify(reason.error).kind : undefined;
      }),
      policy.onStateChange((state) => {
        if (state === CircuitState.Open || state === CircuitState.Isolated) this.opened(key, entry, lastFailureKind);
        else if (state === CircuitState.HalfOpen) this.transition(key, entry, 'half-open');
        else this.closed(key, entry);
      }),
    );
    this.breakers.set(key, entry);
    return entry;
  }

  private createBreaker(): IBreaker {
    const consecutive = new ConsecutiveBreaker(this.settings.consecutiveFailures);
    const rate = this.settings.failureRate;
    if (!rate) return consecutive;
    const sampling = new SamplingBreaker({
      threshold: rate.threshold,
      duration: rate.windowMs,
      minimumRps: rate.minimumCalls / (rate.windowMs / 1000),
    });
    return new EitherBreaker([consecutive, sampling]);
  }

  private opened(key: string, entry: BreakerEntry, kind: LlmErrorKind | undefined): void {
    clearTimeout(entry.halfOpenTimer);
    const at = Date.now();
    entry.halfOpensAt = at + this.settings.halfOpenAfterMs;
    entry.halfOpenTimer = setTimeout(() => this.transition(key, entry, 'half-open'), this.settings.halfOpenAfterMs);
    entry.halfOpenTimer.unref?.();
    this.transition(key, entry, 'open', { halfOpensAt: entry.halfOpensAt, ...(kind ? { kind } : {}) });
  }

  private closed(key: string, entry: BreakerEntry): void {
    clearTimeout(entry.halfOpenTimer);
    entry.halfOpenTimer = undefined;
    entry.halfOpensAt = undefined;
    this.transition(key, entry, 'closed');
  }

  private transition(key: string, entry: BreakerEntry, state: CircuitStateName, extra: Partial<CircuitStateChange> = {}): void {
    if (entry.state === state) return;
    const previous = entry.state;
    entry.state = state;
    this.stateChange.emit({ key, state, previous, at: Date.now(), ...extra });
  }
}

/** Opens when any of its breakers would: consecutive failures OR a failure rate. Every breaker sees every call. */
class EitherBreaker implements IBreaker {
  constructor(private readonly breakers: readonly IBreaker[]) {}

  get state(): unknown {
    return this.breakers.map((breaker) => breaker.state);
  }

  set state(value: unknown) {
    (value as unknown[]).forEach((state, index) => {
      const breaker = this.breakers[index];
      if (breaker) breaker.state = state;
    });
  }

  success(state: CircuitState): void {
    for (const breaker of this.breakers) breaker.success(state);
  }

  failure(state: CircuitState): boolean {
    let open = false;
    for (const breaker of this.breakers) open = breaker.failure(state) || open;
    return open;
  }
}
