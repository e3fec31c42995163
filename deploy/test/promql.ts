import { parser } from '@prometheus-io/lezer-promql';

/** The metric names a PromQL expression reads, or the syntax errors it has. */
export function readPromql(expr: string): { metrics: string[]; errors: string[] } {
  const metrics = new Set<string>();
  const errors: string[] = [];
  parser.parse(expr).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(`syntax error at ${node.from}: …${expr.slice(Math.max(0, node.from - 20), node.from + 20)}…`);
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') metrics.add(expr.slice(node.from, node.to));
    },
  });
  return { metrics: [...metrics], errors };
}

const HISTOGRAMS = [
  'http_server_request_duration_seconds',
  'gen_ai_client_token_usage',
  'gen_ai_client_operation_duration_seconds',
  'atelier_step_duration_seconds',
  'atelier_db_statement_duration_seconds',
];

/**
 * The metrics the services export (the observability issue's catalogue), plus the
 * prom-client process metrics the dashboard counts processes with. Histograms come
 * as _bucket, _sum and _count series.
 */
export const EXPORTED_SERIES: ReadonlySet<string> = new Set([
  ...HISTOGRAMS.flatMap((name) => [`${name}_bucket`, `${name}_sum`, `${name}_count`]),
  'http_server_requests_total',
  'atelier_llm_cost_usd_total',
  'atelier_steps_total',
  'atelier_queue_depth',
  'atelier_circuit_state',
  'atelier_llm_retries_total',
  'atelier_budget_utilization_ratio',
  'atelier_budget_alerts_total',
  'atelier_tasks_total',
  'atelier_audit_seal_lag_seconds',
  'atelier_dead_letters_total',
  'atelier_relay_recoveries_total',
  'process_start_time_seconds',
]);
