/** Something /health/ready waits on (Postgres, NATS, a running consumer). Throws when not ready. */
export interface ReadinessCheck {
  readonly name: string;
  isReady(): Promise<void>;
}

export const READINESS_CHECKS = Symbol('READINESS_CHECKS');
export const LOGGER = Symbol('LOGGER');
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');
