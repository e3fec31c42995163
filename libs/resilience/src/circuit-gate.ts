import type { IDisposable } from 'cockatiel';
import type { CircuitBreakerRegistry } from './circuit-breaker-registry';
import { ResilienceEvent } from './resilience-event';

/** What the gate pauses: a JetStream consumer loop handle fits (`pause`, `resume`). */
export interface Pausable {
  pause(): void;
  resume(): void;
}

export interface GateChange {
  readonly paused: boolean;
  /** Models whose breaker is open right now. */
  readonly openModels: readonly string[];
}

/**
 * Pauses a consumer while its work cannot run, instead of burning deliveries on calls an
 * open breaker refuses: paused when, in EVERY fallback chain the consumer's steps use,
 * every model's breaker is open; resumed as soon as one of them half-opens (its next
 * call is the probe) or closes. A chain with a model still available keeps the consumer
 * pulling, since the fallback serves its steps.
 */
export class CircuitGate implements IDisposable {
  private readonly change = new ResilienceEvent<GateChange>();
  readonly onChange = this.change.subscribe;
  private readonly models: ReadonlySet<string>;
  private readonly subscription: IDisposable;
  private isPaused = false;

  constructor(
    private readonly registry: CircuitBreakerRegistry,
    private readonly chains: readonly (readonly string[])[],
    private readonly target: Pausable,
  ) {
    this.models = new Set(chains.flat());
    this.subscription = registry.onStateChange((event) => {
      if (this.models.has(event.key)) this.evaluate();
    });
    this.evaluate();
  }

  get paused(): boolean {
    return this.isPaused;
  }

  dispose(): void {
    this.subscription.dispose();
  }

  private evaluate(): void {
    const open = [...this.models].filter((model) => this.registry.state(model) === 'open');
    const blocked = this.chains.length > 0 && this.chains.every((chain) => chain.length > 0 && chain.every((model) => open.includes(model)));
    if (blocked === this.isPaused) return;
    this.isPaused = blocked;
    if (blocked) this.target.pause();
    else this.target.resume();
    this.change.emit({ paused: blocked, openModels: open });
  }
}
