import { type Context, context, propagation, ROOT_CONTEXT, type TextMapGetter, trace, TraceFlags } from '@opentelemetry/api';
import { randomBytes } from 'node:crypto';

/** Reads one header of a carrier: an HTTP request's, a NATS message's (`message.header`). */
export type HeaderGetter = (name: string) => string | undefined;

const headerGetter: TextMapGetter<HeaderGetter> = {
  get: (carrier, key) => carrier(key),
  // The W3C propagators only `get` the names they know; `keys` serves propagators that scan.
  keys: () => [],
};

/**
 * The W3C trace-context headers (`traceparent`, `tracestate`, `baggage`) of `ctx` (the active
 * context by default), to send along with an HTTP request or a NATS message. Empty when
 * no span is active or tracing is off.
 */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The remote parent a carrier's headers name, on top of the root context (never the receiver's own active span). */
export function extractTraceContext(header: HeaderGetter): Context {
  return propagation.extract(ROOT_CONTEXT, header, headerGetter);
}

/** Runs `fn` in trace `traceId` (see contextForTraceId): work picked up later, such as a relay, rejoins its task's trace. */
export function inTraceOf<T>(traceId: string | null | undefined, fn: () => T): T {
  return context.with(contextForTraceId(traceId), fn);
}

/**
 * A context that continues trace `traceId` when only the id was stored (a task row's
 * `trace_id`): the parent span id is made up, so the new span joins the task's trace
 * with a parent the backend will not find. Root context for an invalid id.
 */
export function contextForTraceId(traceId: string | null | undefined): Context {
  if (!traceId || !/^(?!0{32})[0-9a-f]{32}$/.test(traceId)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: randomBytes(8).toString('hex'), traceFlags: TraceFlags.SAMPLED, isRemote: true });
}
