import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { helmTemplate, type RenderedObject } from '../src/helm';
import { withRequired } from '../src/value-sets';
import { CHART_DIR, workspaceRoot } from '../src/workspace';
import { EXPORTED_SERIES, readPromql } from './promql';

// The alert rules, the Grafana dashboard and the prometheus-adapter example: valid
// PromQL over metrics the services export, one copy of the rules, a runbook entry per alert.

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; description: string; runbook_url: string };
}

const read = (path: string) => readFileSync(join(workspaceRoot(), path), 'utf8');
const rulesFile = parse(read(`${CHART_DIR}/files/prometheus-rules.yaml`)) as { groups: Array<{ name: string; rules: Rule[] }> };
const rules = rulesFile.groups.flatMap(({ rules: groupRules }) => groupRules);
const alert = (name: string) => {
  const rule = rules.find((candidate) => candidate.alert === name);
  if (!rule) throw new Error(`no alert ${name}`);
  return rule;
};

/** GitHub's heading anchors in docs/operations.md. */
const runbookAnchors = new Set(
  [...read('docs/operations.md').matchAll(/^#{1,6} (.+)$/gm)].map(([, heading]) =>
    (heading ?? '')
      .trim()
      .toLowerCase()
      .replace(/[^\w\- ]/g, '')
      .replace(/ /g, '-'),
  ),
);

/** The runbook base URL the chart ships with (values.yaml), which the rules file carries. */
const defaultRunbookBase = (parse(read(`${CHART_DIR}/values.yaml`)) as { metrics: { prometheusRule: { runbookBaseUrl: string } } }).metrics.prometheusRule
  .runbookBaseUrl;

const unknownMetrics = (expr: string) => readPromql(expr).metrics.filter((metric) => !EXPORTED_SERIES.has(metric));

describe('alert rules (helm/atelier/files/prometheus-rules.yaml)', () => {
  test('cover what the platform promises: errors, model latency, cost, budgets, audit seal, dead letters, lost messages, circuits', () => {
    expect(alert('AtelierApiErrorRateHigh').expr).toMatch(/status=~"5\.\."[\s\S]*> 0\.05/);
    expect(alert('AtelierLlmLatencyP95High').expr).toMatch(/histogram_quantile\(0\.95,[\s\S]*gen_ai_client_operation_duration_seconds_bucket/);
    expect(alert('AtelierLlmCostAnomaly').expr).toContain('atelier_llm_cost_usd_total');
    expect(alert('AtelierBudgetNearlySpent').expr).toMatch(/atelier_budget_utilization_ratio\) >= 0\.8$/);
    expect(alert('AtelierAuditSealLagHigh').expr).toContain('atelier_audit_seal_lag_seconds');
    expect(alert('AtelierDeadLettersGrowing').expr).toMatch(/increase\(atelier_dead_letters_total\[\w+\]\)\) > 0/);
    expect(alert('AtelierMessagesLost').expr).toMatch(/increase\(atelier_relay_recoveries_total\{what=~"lost_step\|lost_result"\}\[\w+\]\)\) > 0/);
    expect(alert('AtelierLlmCircuitOpen').expr).toMatch(/atelier_circuit_state\) == 1/);
  });

  test.each(rules.map((rule) => [rule.alert, rule] as const))('%s is valid PromQL over exported metrics, with severity, text and runbook', (_name, rule) => {
    expect(readPromql(rule.expr).errors).toEqual([]);
    expect(readPromql(rule.expr).metrics.length).toBeGreaterThan(0);
    expect(unknownMetrics(rule.expr)).toEqual([]);
    expect(['warning', 'critical']).toContain(rule.labels.severity);
    expect(rule.annotations.summary).toBeTruthy();
    expect(rule.annotations.description).toBeTruthy();
    expect(rule.annotations).not.toHaveProperty('runbook');
    expect(rule.annotations.runbook_url).toBe(`${defaultRunbookBase}#${rule.alert.toLowerCase()}`);
    expect(runbookAnchors).toContain(rule.alert.toLowerCase());
  });

  test('the PrometheusRule the chart renders carries exactly this file', () => {
    const objects = helmTemplate(withRequired('metrics.prometheusRule.enabled=true')).map(({ object }) => object);
    const rule = objects.find(({ kind }) => kind === 'PrometheusRule') as RenderedObject;
    expect(rule['spec']).toEqual(rulesFile);
  });

  test('with runbookBaseUrl set, every runbook_url points at that copy of the runbook, and nothing else changes', () => {
    const base = 'https://wiki.example.com/platform/atelier-runbook';
    const objects = helmTemplate(withRequired('metrics.prometheusRule.enabled=true', `metrics.prometheusRule.runbookBaseUrl=${base}`)).map(
      ({ object }) => object,
    );
    const rendered = (objects.find(({ kind }) => kind === 'PrometheusRule') as RenderedObject)['spec'] as typeof rulesFile;
    const expected = structuredClone(rulesFile);
    for (const rule of expected.groups.flatMap((group) => group.rules)) rule.annotations.runbook_url = `${base}#${rule.alert.toLowerCase()}`;
    expect(rendered).toEqual(expected);
  });

  test('the checks would catch a typo in a metric name and a syntax error', () => {
    expect(unknownMetrics('sum(rate(atelier_step_total[5m]))')).toEqual(['atelier_step_total']);
    expect(readPromql('sum(rate(atelier_steps_total[5m])').errors).not.toEqual([]);
  });
});

describe('Grafana dashboard (helm/atelier/files/grafana-dashboard.json)', () => {
  interface Panel {
    id: number;
    type: string;
    title: string;
    targets?: Array<{ expr: string }>;
  }
  const dashboard = JSON.parse(read(`${CHART_DIR}/files/grafana-dashboard.json`)) as { uid: string; panels: Panel[] };
  const queries = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map(({ expr }) => [panel.title, expr] as const));
  // Grafana substitutes its variables before Prometheus sees the query.
  const asSent = (expr: string) => expr.replaceAll('$__rate_interval', '2m').replaceAll('$namespace', 'atelier');

  test('has unique panel ids and a query in every non-row panel', () => {
    const ids = dashboard.panels.map(({ id }) => id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels.filter(({ type }) => type !== 'row')) expect(panel.targets?.length).toBeGreaterThan(0);
  });

  test('shows every exported metric family: queue depth, steps, tokens, cost, budgets, circuits, seal lag...', () => {
    const family = (series: string) => series.replace(/_(bucket|sum|count)$/, '');
    const shown = new Set(queries.flatMap(([, expr]) => readPromql(asSent(expr)).metrics.map(family)));
    expect([...new Set([...EXPORTED_SERIES].map(family))].filter((metric) => !shown.has(metric))).toEqual([]);
  });

  test.each(queries)('%s: valid PromQL over exported metrics', (_title, expr) => {
    const { metrics, errors } = readPromql(asSent(expr));
    expect(errors).toEqual([]);
    expect(metrics.filter((metric) => !EXPORTED_SERIES.has(metric))).toEqual([]);
  });
});

describe('prometheus-adapter example (helm/atelier/examples/prometheus-adapter-values.yaml)', () => {
  const example = parse(read(`${CHART_DIR}/examples/prometheus-adapter-values.yaml`)) as {
    rules: { external: Array<{ seriesQuery: string; name: { as: string }; metricsQuery: string }> };
  };

  test('serves the External metric the agents HPAs read, taking the max over orchestrator replicas', () => {
    const hpaMetrics = helmTemplate(withRequired())
      .map(({ object }) => object)
      .filter(({ kind, metadata }) => kind === 'HorizontalPodAutoscaler' && metadata.name.endsWith('-agent'))
      .map((hpa) => (hpa['spec'] as { metrics: Array<{ external: { metric: { name: string } } }> }).metrics[0]?.external.metric.name);
    expect(hpaMetrics).toEqual(['atelier_queue_depth', 'atelier_queue_depth']);
    const [rule] = example.rules.external;
    expect(rule?.name.as).toBe('atelier_queue_depth');
    expect(readPromql(rule?.seriesQuery ?? '')).toEqual({ metrics: ['atelier_queue_depth'], errors: [] });
    const query = (rule?.metricsQuery ?? '').replace('<<.Series>>', 'atelier_queue_depth').replace('<<.LabelMatchers>>', 'agent="research"');
    expect(query).toMatch(/^max by \(agent\)/);
    expect(readPromql(query)).toEqual({ metrics: ['atelier_queue_depth'], errors: [] });
  });
});
