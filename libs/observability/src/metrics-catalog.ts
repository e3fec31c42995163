import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

// Every metric of Atelier, in one place: name, help, labels, buckets. Services get them
// from `metricsCatalog(registry)` and never call `new Counter(...)` themselves, so a name
// is registered once per process (prom-client throws on a second registration).

interface Definition<K extends 'counter' | 'gauge' | 'histogram', L extends string> {
  readonly kind: K;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly buckets?: readonly number[];
  /**
   * Created on first use instead of with the catalog: a metric only one service produces
   * (budgets and the sealer: the orchestrator; dead letters: the agents). Declared
   * everywhere, an unlabelled gauge would read 0 on every other service, as if measured.
   */
  readonly lazy?: boolean;
}

const counter = <L extends string>(name: string, help: string, labelNames: readonly L[], lazy = false): Definition<'counter', L> => ({
  kind: 'counter',
  name,
  help,
  labelNames,
  lazy,
});
const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], lazy = false): Definition<'gauge', L> => ({
  kind: 'gauge',
  name,
  help,
  labelNames,
  lazy,
});
const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets: readonly number[], lazy = false): Definition<'histogram', L> => ({
  kind: 'histogram',
  name,
  help,
  labelNames,
  buckets,
  lazy,
});

/** GenAI semantic conventions: explicit bucket boundaries for gen_ai.client.token.usage. */
export const GEN_AI_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864] as const;
/** GenAI semantic conventions: explicit bucket boundaries for gen_ai.client.operation.duration (seconds). */
export const GEN_AI_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92] as const;
/** HTTP semantic conventions: http.server.request.duration (seconds). */
export const HTTP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] as const;
/** A statement's round trip: about a millisecond on the hot path, up to seconds behind a lock or a slow disk. */
export const DB_STATEMENT_BUCKETS = [0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048] as const;
/** A step lasts from a second (a cached call) to many minutes (a long draft with retries). */
export const STEP_DURATION_BUCKETS = [0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640, 1280] as const;

const GEN_AI_LABELS = ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model'] as const;

export const METRIC_DEFINITIONS = {
  httpRequestDuration: histogram('http_server_request_duration_seconds', 'HTTP server request duration', ['method', 'route', 'status'], HTTP_DURATION_BUCKETS),
  httpRequests: counter('http_server_requests_total', 'HTTP server requests', ['method', 'route', 'status']),
  genAiTokenUsage: histogram(
    'gen_ai_client_token_usage',
    'Tokens used per model call, by token type (input includes cache reads and writes)',
    [...GEN_AI_LABELS, 'gen_ai_token_type'],
    GEN_AI_TOKEN_BUCKETS,
  ),
  genAiOperationDuration: histogram(
    'gen_ai_client_operation_duration_seconds',
    'Duration of one model call (one attempt); error_type is empty on success',
    [...GEN_AI_LABELS, 'error_type'],
    GEN_AI_DURATION_BUCKETS,
  ),
  llmCost: counter('atelier_llm_cost_usd_total', 'Spend on model calls in US dollars (from the dated price table)', ['model']),
  llmRetries: counter('atelier_llm_retries_total', 'Model call attempts retried, by failure kind', ['model', 'reason']),
  llmFallbacks: counter('atelier_llm_fallbacks_total', 'Model calls moved to the next model of their fallback chain', ['from_model', 'to_model', 'reason']),
  llmBulkheadRejections: counter('atelier_llm_bulkhead_rejections_total', 'Model calls refused because every slot and the queue were full', []),
  circuitState: gauge('atelier_circuit_state', 'Circuit breaker per model: 0 closed, 1 open, 2 half-open', ['model']),
  steps: counter('atelier_steps_total', 'Step deliveries by outcome: completed, failed, dead_lettered, retried', ['agent', 'outcome']),
  stepDuration: histogram('atelier_step_duration_seconds', 'Time to execute one step delivery', ['agent', 'kind'], STEP_DURATION_BUCKETS),
  dbStatementDuration: histogram(
    'atelier_db_statement_duration_seconds',
    'Round trip of one statement on the connection pool, from the call to the answer (a wait for a free connection included), by prepared statement name (unnamed: the rest)',
    ['statement'],
    DB_STATEMENT_BUCKETS,
  ),
  queueDepth: gauge('atelier_queue_depth', 'Steps waiting for an agent: JetStream num_pending + num_ack_pending', ['agent']),
  tasks: counter('atelier_tasks_total', 'Tasks by status reached (submitted tasks count as queued)', ['status']),
  budgetUtilization: gauge('atelier_budget_utilization_ratio', '(spent + reserved) / limit per budget', ['scope'], true),
  budgetAlerts: counter('atelier_budget_alerts_total', 'Budget alert thresholds crossed', ['scope', 'threshold'], true),
  auditSealLag: gauge('atelier_audit_seal_lag_seconds', 'Age of the oldest committed audit event not yet sealed', [], true),
  auditSealedEvents: counter('atelier_audit_sealed_events_total', 'Audit events sealed into the hash chain by this process', [], true),
  auditSealDelay: histogram('atelier_audit_seal_delay_seconds', 'Time from an audit event\'s insert to its seal, per sealed event', [], [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300], true),
  auditSealFailures: counter('atelier_audit_seal_failures_total', 'Sealing attempts that failed: error (the batch rolled back), unhashable_event (a poisoned event blocks the chain)', ['reason'], true),
  deadLetters: counter('atelier_dead_letters_total', 'Steps dead-lettered after their last delivery failed', ['agent'], true),
  relayRecoveries: counter(
    'atelier_relay_recoveries_total',
    'What the relay made good from Postgres: unpublished_step (a publish after commit never confirmed), lost_step (the broker lost a step message), lost_result (a step result never handled)',
    ['what'],
    true,
  ),
} as const;

type MetricDefinitions = typeof METRIC_DEFINITIONS;
type Labels<D> = D extends Definition<'counter' | 'gauge' | 'histogram', infer L> ? L : never;
type MetricOf<D> = D extends Definition<'counter', string>
  ? Counter<Labels<D>>
  : D extends Definition<'gauge', string>
    ? Gauge<Labels<D>>
    : D extends Definition<'histogram', string>
      ? Histogram<Labels<D>>
      : never;

export type MetricsCatalog = { readonly [K in keyof MetricDefinitions]: MetricOf<MetricDefinitions[K]> };
export type MetricName = keyof MetricsCatalog;

/** One registry per process, with Node's default metrics and a `service` label on every series. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

const catalogs = new WeakMap<Registry, MetricsCatalog>();

/**
 * The catalog's metrics on `registry`, the same objects on every call. Metrics are
 * registered when the catalog is first asked for, so `/metrics` lists them (with HELP and
 * TYPE) before their first sample; `lazy` ones on first use.
 */
export function metricsCatalog(registry: Registry): MetricsCatalog {
  const existing = catalogs.get(registry);
  if (existing) return existing;
  const created = new Map<string, unknown>();
  const catalog = {} as MetricsCatalog;
  for (const [key, definition] of Object.entries(METRIC_DEFINITIONS) as [MetricName, Definition<'counter' | 'gauge' | 'histogram', string>][]) {
    Object.defineProperty(catalog, key, {
      enumerable: true,
      get: () => {
        if (!created.has(key)) created.set(key, register(registry, definition));
        return created.get(key);
      },
    });
    if (!definition.lazy) void catalog[key];
  }
  catalogs.set(registry, catalog);
  return catalog;
}

const CLASSES = { counter: Counter, gauge: Gauge, histogram: Histogram } as const;

function register(registry: Registry, definition: Definition<'counter' | 'gauge' | 'histogram', string>): unknown {
  const type = CLASSES[definition.kind];
  // Every metric comes from this catalog: a name registered already is a second definition somewhere.
  if (registry.getSingleMetric(definition.name)) throw new Error(`metric ${definition.name} is registered outside the metrics catalog`);
  const labelNames = [...definition.labelNames];
  if (definition.kind === 'histogram') {
    return new Histogram({ name: definition.name, help: definition.help, labelNames, buckets: [...(definition.buckets ?? [])], registers: [registry] });
  }
  return new type({ name: definition.name, help: definition.help, labelNames, registers: [registry] });
}
