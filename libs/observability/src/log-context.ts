import { context, createContextKey, trace } from '@opentelemetry/api';

/** Fields every log line written inside a unit of work carries (task, step, kind, ...). */
export type LogFields = Readonly<Record<string, string | number | boolean>>;

const LOG_FIELDS = createContextKey('atelier.log-fields');

/**
 * Runs `fn` with `fields` added to every log line it writes, however deep, through the
 * same async context that carries the active span (so it needs `startTracing`, which
 * registers the context manager, like spans do).
 */
export function withLogFields<T>(fields: LogFields, fn: () => T): T {
  const active = context.active();
  const merged = { ...((active.getValue(LOG_FIELDS) as LogFields | undefined) ?? {}), ...fields };
  return context.with(active.setValue(LOG_FIELDS, merged), fn);
}

/** What a log line gets from the active context: trace and span id of the active span, then the log fields. */
export function activeLogFields(): Record<string, unknown> {
  const active = context.active();
  const spanContext = trace.getSpanContext(active);
  const fields = (active.getValue(LOG_FIELDS) as LogFields | undefined) ?? {};
  return spanContext && trace.isSpanContextValid(spanContext) ? { traceId: spanContext.traceId, spanId: spanContext.spanId, ...fields } : { ...fields };
}
