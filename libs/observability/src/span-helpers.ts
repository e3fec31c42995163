import { type Attributes, type Span, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { redactText } from './secret-redaction';

/** The tracer of our own spans; the Anthropic SDK and others bring theirs. */
export function atelierTracer(): Tracer {
  return trace.getTracer('atelier');
}

export interface TraceIds {
  readonly traceId: string;
  readonly spanId: string;
}

/** The ids of the active span, for a log line, an audit row or a response header. */
export function activeTraceIds(): TraceIds | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && trace.isSpanContextValid(spanContext) ? { traceId: spanContext.traceId, spanId: spanContext.spanId } : undefined;
}

/**
 * Marks a span failed with `error.type` and an exception event whose message and stack
 * went through secret redaction: span events are exported as they are.
 */
export function recordSpanError(span: Span, error: unknown, errorType?: string): void {
  const failure = error instanceof Error ? error : new Error(String(error));
  span.recordException({ name: failure.name, message: redactText(failure.message), ...(failure.stack ? { stack: redactText(failure.stack) } : {}) });
  span.setAttribute('error.type', errorType ?? failure.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: redactText(failure.message) });
}

export interface SpanOptions {
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
  /** `error.type` of a failure; the error's name by default. */
  readonly errorType?: (error: unknown) => string | undefined;
}

/** Runs `fn` inside a new active span (child of the active one), ended and marked failed or not whatever `fn` does. */
export async function withSpan<T>(name: string, options: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  return atelierTracer().startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes ? { attributes: options.attributes } : {}) }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      recordSpanError(span, error, options.errorType?.(error));
      throw error;
    } finally {
      span.end();
    }
  });
}
