/** Something /health/ready waits on (Postgres, NATS, a running consumer). Throws when not ready. */
export interface ReadinessCheck {
  readonly name: string;
  isReady(): Promise<void>;
}

export const READINESS_CHECKS = Symbol('READINESS_CHECKS');
export const LOGGER = Symbol('LOGGER');
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');
/** The `MetricsCatalog` of the process registry. */
export const METRICS_CATALOG = Symbol('METRICS_CATALOG');
/** The process's `Tracing` handle, or null when the module was given no tracing options. */
export const TRACING = Symbol('TRACING');
