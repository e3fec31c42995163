import { type Attributes, type Context, context, type Span, SpanKind, trace } from '@opentelemetry/api';
import { recordSpanError, atelierTracer } from './span-helpers';
import { extractTraceContext, type HeaderGetter, traceHeaders } from './trace-propagation';

export interface MessageSpanOptions {
  /** The NATS subject. */
  readonly subject: string;
  /** Nats-Msg-Id. */
  readonly messageId?: string;
  readonly attributes?: Attributes;
}

function messagingAttributes(operation: 'publish' | 'process', options: MessageSpanOptions): Attributes {
  return {
    'messaging.system': 'nats',
    'messaging.destination.name': options.subject,
    'messaging.operation.name': operation,
    'messaging.operation.type': operation === 'publish' ? 'send' : 'process',
    ...(options.messageId ? { 'messaging.message.id': options.messageId } : {}),
    ...options.attributes,
  };
}

/**
 * A PRODUCER span `publish <subject>` around one publish; `publish` gets the trace headers
 * (traceparent naming this span) to put on the message. `parent` overrides the active
 * context, for a publish that runs outside the work that caused it (a relay).
 */
export async function withPublishSpan<T>(
  options: MessageSpanOptions,
  publish: (traceHeaders: Record<string, string>) => Promise<T>,
  parent: Context = context.active(),
): Promise<T> {
  const span = atelierTracer().startSpan(`publish ${options.subject}`, { kind: SpanKind.PRODUCER, attributes: messagingAttributes('publish', options) }, parent);
  const spanContext = trace.setSpan(parent, span);
  try {
    return await context.with(spanContext, () => publish(traceHeaders(spanContext)));
  } catch (error) {
    recordSpanError(span, error);
    throw error;
  } finally {
    span.end();
  }
}

export interface ConsumerSpanOptions extends MessageSpanOptions {
  /** The message's headers (`message.header`): the publisher's traceparent is the parent. */
  readonly header: HeaderGetter;
  /** The durable consumer (`messaging.consumer.group.name`). */
  readonly consumer?: string;
  readonly deliveryCount?: number;
}

/**
 * A CONSUMER span `process <subject>` continuing the publisher's trace, active while `fn`
 * handles the message: every span and log line of the handling joins the trace.
 */
export async function withConsumerSpan<T>(options: ConsumerSpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  const parent = extractTraceContext(options.header);
  const attributes = {
    ...messagingAttributes('process', options),
    ...(options.consumer ? { 'messaging.consumer.group.name': options.consumer } : {}),
    ...(options.deliveryCount !== undefined ? { 'messaging.nats.delivery_count': options.deliveryCount } : {}),
  };
  const span = atelierTracer().startSpan(`process ${options.subject}`, { kind: SpanKind.CONSUMER, attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (error) {
    recordSpanError(span, error);
    throw error;
  } finally {
    span.end();
  }
}
