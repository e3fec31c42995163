import type { MetricsCatalog } from './metrics-catalog';

// The events of @atelier/resilience, described by shape: observability and resilience
// are both leaves and may not import each other; LlmCallPolicy fits these types.

interface Disposable {
  dispose(): void;
}

type CircuitStateName = 'closed' | 'open' | 'half-open';

export interface ObservableLlmPolicy {
  onRetry(listener: (event: { readonly key: string; readonly kind: string }) => void): Disposable;
  onFallback(listener: (event: { readonly from: string; readonly to: string; readonly kind: string }) => void): Disposable;
  onBulkheadRejected(listener: (event: unknown) => void): Disposable;
  readonly breakers: {
    onStateChange(listener: (event: { readonly key: string; readonly state: CircuitStateName }) => void): Disposable;
    states(): ReadonlyMap<string, CircuitStateName>;
  };
}

const CIRCUIT_GAUGE: Readonly<Record<CircuitStateName, number>> = { closed: 0, open: 1, 'half-open': 2 };

/**
 * Turns the policy's events into `atelier_llm_retries_total{model,reason}`,
 * `atelier_llm_fallbacks_total`, `atelier_llm_bulkhead_rejections_total` and
 * `atelier_circuit_state{model}` (0 closed, 1 open, 2 half-open). `models` get a
 * closed series at once, so a dashboard shows them before their first call.
 */
export function bindLlmPolicyMetrics(policy: ObservableLlmPolicy, catalog: MetricsCatalog, models: readonly string[] = []): Disposable {
  for (const model of models) catalog.circuitState.set({ model }, CIRCUIT_GAUGE[policy.breakers.states().get(model) ?? 'closed']);
  for (const [model, state] of policy.breakers.states()) catalog.circuitState.set({ model }, CIRCUIT_GAUGE[state]);
  const subscriptions = [
    policy.onRetry((event) => catalog.llmRetries.inc({ model: event.key, reason: event.kind })),
    policy.onFallback((event) => catalog.llmFallbacks.inc({ from_model: event.from, to_model: event.to, reason: event.kind })),
    policy.onBulkheadRejected(() => catalog.llmBulkheadRejections.inc()),
    policy.breakers.onStateChange((event) => catalog.circuitState.set({ model: event.key }, CIRCUIT_GAUGE[event.state])),
  ];
  return { dispose: () => subscriptions.forEach((subscription) => subscription.dispose()) };
}
