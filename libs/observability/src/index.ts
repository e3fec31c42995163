// Logs: pino JSON lines, secrets redacted, trace ids and log fields from the async context.
export * from './secret-redaction';
export * from './logger';
export * from './log-context';
// Traces: OpenTelemetry set-up, W3C propagation over HTTP and NATS, GenAI spans.
export * from './tracing';
export * from './span-helpers';
export * from './trace-propagation';
export * from './messaging-spans';
export * from './http-server-spans';
export * from './gen-ai-spans';
// Metrics: the catalog and the adapters that feed it.
export * from './metrics-catalog';
export * from './llm-metrics';
export * from './resilience-metrics';
// Health, and the thin Nest adapter.
export * from './readiness-check';
export * from './jetstream-streams-check';
export * from './observability.module';
export * from './nest-service-runner';
export * from './public-route';
export * from './crash-point';
