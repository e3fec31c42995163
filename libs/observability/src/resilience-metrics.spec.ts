import { Registry } from 'prom-client';
import { metricsCatalog } from './metrics-catalog';
import { bindLlmPolicyMetrics, type ObservableLlmPolicy } from './resilience-metrics';

type Listener<E> = (event: E) => void;

/**
 * An event source with the shape of @atelier/resilience's LlmCallPolicy (which this leaf
 * library may not import); the real policy is bound in the agent runtime.
 */
function policyEvents() {
  const listeners = { retry: [] as Listener<{ key: string; kind: string }>[], fallback: [] as Listener<{ from: string; to: string; kind: string }>[], rejected: [] as Listener<unknown>[], state: [] as Listener<{ key: string; state: 'closed' | 'open' | 'half-open' }>[] };
  const subscribe = <E>(list: Listener<E>[]) => (listener: Listener<E>) => {
    list.push(listener);
    return { dispose: () => list.splice(list.indexOf(listener), 1) };
  };
  const policy: ObservableLlmPolicy = {
    onRetry: subscribe(listeners.retry),
    onFallback: subscribe(listeners.fallback),
    onBulkheadRejected: subscribe(listeners.rejected),
    breakers: { onStateChange: subscribe(listeners.state), states: () => new Map([['claude-opus-5-5', 'open' as const]]) },
  };
  return { policy, listeners };
}

describe(bindLlmPolicyMetrics.name, () => {
  it('turns retries, fallbacks, rejections and breaker states into metrics, and stops on dispose', async () => {
    const registry = new Registry();
    const { policy, listeners } = policyEvents();
    const binding = bindLlmPolicyMetrics(policy, metricsCatalog(registry), ['claude-sonnet-5-5', 'claude-haiku-5-5']);

    let text = await registry.metrics();
    expect(text).toContain('atelier_circuit_state{model="claude-sonnet-5-5"} 0');
    expect(text).toContain('atelier_circuit_state{model="claude-opus-5-5"} 1');

    listeners.retry.forEach((listener) => listener({ key: 'claude-sonnet-5-5', kind: 'rate_limited' }));
    listeners.retry.forEach((listener) => listener({ key: 'claude-sonnet-5-5', kind: 'rate_limited' }));
    listeners.fallback.forEach((listener) => listener({ from: 'claude-sonnet-5-5', to: 'claude-haiku-5-5', kind: 'overloaded' }));
    listeners.rejected.forEach((listener) => listener({}));
    listeners.state.forEach((listener) => listener({ key: 'claude-sonnet-5-5', state: 'open' }));
    listeners.state.forEach((listener) => listener({ key: 'claude-haiku-5-5', state: 'half-open' }));

    text = await registry.metrics();
    expect(text).toContain('atelier_llm_retries_total{model="claude-sonnet-5-5",reason="rate_limited"} 2');
    expect(text).toContain('atelier_llm_fallbacks_total{from_model="claude-sonnet-5-5",to_model="claude-haiku-5-5",reason="overloaded"} 1');
    expect(text).toContain('atelier_llm_bulkhead_rejections_total 1');
    expect(text).toContain('atelier_circuit_state{model="claude-sonnet-5-5"} 1');
    expect(text).toContain('atelier_circuit_state{model="claude-haiku-5-5"} 2');

    binding.dispose();
    expect(Object.values(listeners).every((list) => list.length === 0)).toBe(true);
  });
});
