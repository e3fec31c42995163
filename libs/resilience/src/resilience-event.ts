import type { Event, IDisposable } from 'cockatiel';

export type { Event, IDisposable } from 'cockatiel';

/**
 * A typed event in cockatiel's shape (`policy.onRetry(listener) → disposable`). Listeners
 * run synchronously and a throwing listener is isolated: metrics or logging must never
 * change the outcome of a model call.
 */
export class ResilienceEvent<T> {
  private readonly listeners = new Set<(data: T) => void>();

  readonly subscribe: Event<T> = (listener): IDisposable => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  emit(data: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(data);
      } catch {
        // An observer's bug must not fail the call it observes.
      }
    }
  }
}
