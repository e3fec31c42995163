import { Counter, Registry } from 'prom-client';
import { createMetricsRegistry, GEN_AI_DURATION_BUCKETS, GEN_AI_TOKEN_BUCKETS, metricsCatalog } from './metrics-catalog';
import { observeLlmAttempt } from './llm-metrics';

/** The cross-issue contract (SHARED-CONTRACTS "Metrics"): name → labels besides `service`. */
const CONTRACT: Record<string, string[]> = {
  http_server_request_duration_seconds: ['method', 'route', 'status'],
  http_server_requests_total: ['method', 'route', 'status'],
  gen_ai_client_token_usage: ['gen_ai_request_model', 'gen_ai_token_type'],
  gen_ai_client_operation_duration_seconds: ['gen_ai_request_model', 'error_type'],
  atelier_llm_cost_usd_total: ['model'],
  atelier_steps_total: ['agent', 'outcome'],
  atelier_step_duration_seconds: ['agent', 'kind'],
  atelier_queue_depth: ['agent'],
  atelier_circuit_state: ['model'],
  atelier_llm_retries_total: ['model', 'reason'],
  atelier_budget_utilization_ratio: ['scope'],
  atelier_budget_alerts_total: ['scope', 'threshold'],
  atelier_tasks_total: ['status'],
  atelier_audit_seal_lag_seconds: [],
  atelier_dead_letters_total: ['agent'],
};

describe(metricsCatalog.name, () => {
  it('has every metric of the contract with its labels, and a service label on every series', async () => {
    const registry = createMetricsRegistry('orchestrator');
    const catalog = metricsCatalog(registry);
    for (const metric of Object.values(catalog)) expect(metric).toBeDefined();

    for (const [name, labels] of Object.entries(CONTRACT)) {
      const metric = registry.getSingleMetric(name);
      expect(metric).toBeDefined();
      const labelNames = (metric as unknown as { labelNames: string[] }).labelNames;
      expect(labelNames).toEqual(expect.arrayContaining(labels));
    }
    catalog.tasks.inc({ status: 'completed' });
    expect(await registry.metrics()).toContain('atelier_tasks_total{status="completed",service="orchestrator"} 1');
  });

  it('lists its metrics before their first sample, and the ones a single service produces only once used', async () => {
    const registry = new Registry();
    const catalog = metricsCatalog(registry);
    const exposition = await registry.metrics();
    expect(exposition).toContain('# TYPE atelier_circuit_state gauge');
    expect(exposition).toContain('# TYPE gen_ai_client_token_usage histogram');
    expect(exposition).not.toContain('atelier_audit_seal_lag_seconds');
    catalog.auditSealLag.set(1.5);
    expect(await registry.metrics()).toContain('atelier_audit_seal_lag_seconds 1.5');
  });

  it('is one catalog per registry', () => {
    const registry = new Registry();
    const catalog = metricsCatalog(registry);
    expect(metricsCatalog(registry)).toBe(catalog);
    expect(metricsCatalog(new Registry()).tasks).not.toBe(catalog.tasks);
  });

  it('refuses a metric defined outside the catalog with a clear error', () => {
    const registry = new Registry();
    new Counter({ name: 'atelier_audit_seal_lag_seconds', help: 'defined elsewhere', registers: [registry] });
    expect(() => metricsCatalog(registry).auditSealLag).toThrow('metric atelier_audit_seal_lag_seconds is registered outside the metrics catalog');
  });
});

describe(observeLlmAttempt.name, () => {
  it('records duration, input (cache included) and output tokens in the GenAI buckets, and spend', async () => {
    const registry = new Registry();
    const catalog = metricsCatalog(registry);
    observeLlmAttempt(catalog, {
      model: 'claude-haiku-5-5',
      durationSeconds: 1.9,
      usage: { inputTokens: 100, outputTokens: 300, cacheReadInputTokens: 1000 },
      costUsd: 0.00026,
    });
    observeLlmAttempt(catalog, { model: 'claude-haiku-5-5', durationSeconds: 0.3, errorType: 'overloaded_error' });
    const text = await registry.metrics();
    const labels = 'gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="claude-haiku-5-5"';
    expect(text).toContain(`gen_ai_client_token_usage_bucket{le="1024",${labels},gen_ai_token_type="input"} 0`);
    expect(text).toContain(`gen_ai_client_token_usage_bucket{le="4096",${labels},gen_ai_token_type="input"} 1`);
    expect(text).toContain(`gen_ai_client_token_usage_sum{${labels},gen_ai_token_type="output"} 300`);
    expect(text).toContain(`gen_ai_client_operation_duration_seconds_bucket{le="2.56",${labels},error_type=""} 1`);
    expect(text).toContain(`gen_ai_client_operation_duration_seconds_count{${labels},error_type="overloaded_error"} 1`);
    expect(text).toContain('atelier_llm_cost_usd_total{model="claude-haiku-5-5"} 0.00026');
    for (const bound of GEN_AI_TOKEN_BUCKETS) expect(text).toContain(`gen_ai_client_token_usage_bucket{le="${bound}"`);
    for (const bound of GEN_AI_DURATION_BUCKETS) expect(text).toContain(`gen_ai_client_operation_duration_seconds_bucket{le="${bound}"`);
  });
});
