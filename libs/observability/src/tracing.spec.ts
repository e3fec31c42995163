import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { startOtlpReceiver } from '@atelier/testing';
import { withConsumerSpan, withPublishSpan } from './messaging-spans';
import { activeTraceIds, withSpan } from './span-helpers';
import { contextForTraceId, extractTraceContext, traceHeaders } from './trace-propagation';
import { startTracing, type Tracing, tracingFromEnv } from './tracing';

describe(startTracing.name, () => {
  let exporter: InMemorySpanExporter;
  let tracing: Tracing;

  beforeEach(() => {
    exporter = new InMemorySpanExporter();
    tracing = startTracing({ service: 'orchestrator', serviceVersion: '1.2.3', exporter });
  });

  afterEach(() => tracing.shutdown());

  it('continues one trace across a NATS publish and receive: producer → consumer → child', async () => {
    const sent: Record<string, string>[] = [];
    await withSpan('POST /v1/tasks', { kind: SpanKind.SERVER }, () =>
      withPublishSpan({ subject: 'agent.research.steps', messageId: 'step-1:1' }, async (headers) => {
        sent.push(headers);
      }),
    );
    const [headers] = sent;
    expect(headers?.['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    // The agent side: nothing active, only the message's headers.
    await context.with(context.active(), () =>
      withConsumerSpan({ subject: 'agent.research.steps', header: (name) => headers?.[name], consumer: 'research-workers', deliveryCount: 1 }, () =>
        withSpan('chat claude-haiku-5-5', { kind: SpanKind.CLIENT }, async () => undefined),
      ),
    );

    const spans = exporter.getFinishedSpans();
    const byName = Object.fromEntries(spans.map((span) => [span.name, span]));
    const server = byName['POST /v1/tasks'];
    const publish = byName['publish agent.research.steps'];
    const consume = byName['process agent.research.steps'];
    const llm = byName['chat claude-haiku-5-5'];
    expect(new Set(spans.map((span) => span.spanContext().traceId)).size).toBe(1);
    expect(publish.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(consume.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
    expect(consume.parentSpanContext?.isRemote).toBe(true);
    expect(llm.parentSpanContext?.spanId).toBe(consume.spanContext().spanId);
    expect(publish.kind).toBe(SpanKind.PRODUCER);
    expect(consume.kind).toBe(SpanKind.CONSUMER);
    expect(consume.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.destination.name': 'agent.research.steps',
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': 'research-workers',
    });
    expect(publish.attributes).toMatchObject({ 'messaging.message.id': 'step-1:1', 'messaging.operation.type': 'send' });
    expect(server.resource.attributes).toMatchObject({ 'service.name': 'orchestrator', 'service.version': '1.2.3' });
  });

  it('starts a new trace for a message without trace headers', async () => {
    let ids: ReturnType<typeof activeTraceIds>;
    await withConsumerSpan({ subject: 's', header: () => undefined }, async () => {
      ids = activeTraceIds();
    });
    expect(ids?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(exporter.getFinishedSpans()[0]?.parentSpanContext).toBeUndefined();
  });

  it('marks a failed span with error.type and a redacted exception, and rethrows', async () => {
    const secret = ['sk', 'ant', 'api03', 'aaaaaaaaaaaaaaaaaaaaaaaa'].join('-');
    await expect(
      withSpan('step', {}, async () => {
        throw new TypeError(`rejected key ${secret}`);
      }),
    ).rejects.toThrow(TypeError);
    const [span] = exporter.getFinishedSpans();
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'rejected key [REDACTED]' });
    expect(span?.attributes['error.type']).toBe('TypeError');
    expect(JSON.stringify(span?.events)).not.toContain(secret);
    expect(span?.events[0]?.attributes).toMatchObject({ 'exception.message': 'rejected key [REDACTED]' });
  });

  it('continues a stored trace id', () => {
    expect(trace.getSpanContext(contextForTraceId('4bf92f3577b34da6a3ce929d0e0e4736'))?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    for (const bad of [undefined, 'garbage', '00000000000000000000000000000000']) expect(trace.getSpanContext(contextForTraceId(bad))).toBeUndefined();
  });

  it('injects nothing when no span is active, and extracts nothing from nothing', () => {
    expect(traceHeaders()).toEqual({});
    expect(trace.getSpanContext(extractTraceContext(() => undefined))).toBeUndefined();
  });

  it('refuses a second start until the first is shut down', async () => {
    expect(() => startTracing({ service: 'again' })).toThrow('tracing is already started in this process; shut it down first');
    await tracing.shutdown();
    tracing = startTracing({ service: 'again' });
    expect(tracing.exporting).toBe(false);
  });
});

describe('OTLP export', () => {
  it('sends spans as OTLP/HTTP JSON to <endpoint>/v1/traces when an endpoint is set', async () => {
    const receiver = await startOtlpReceiver();
    const tracing = startTracing(tracingFromEnv('research-agent', { OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }));
    try {
      expect(tracing.exporting).toBe(true);
      await withSpan('process agent.research.steps', { kind: SpanKind.CONSUMER, attributes: { 'atelier.step.id': 's1' } }, async () => {
        await withSpan('chat claude-haiku-5-5', { kind: SpanKind.CLIENT }, async () => undefined);
      });
      await tracing.forceFlush();
      const spans = await receiver.waitFor((received) => received.length >= 2);
      expect(spans).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ service: 'research-agent', name: 'process agent.research.steps', kind: 5, attributes: { 'atelier.step.id': 's1' } }),
          expect.objectContaining({ service: 'research-agent', name: 'chat claude-haiku-5-5', kind: 3 }),
        ]),
      );
      const [parent, child] = ['process agent.research.steps', 'chat claude-haiku-5-5'].map((name) => spans.find((span) => span.name === name));
      expect(child?.parentSpanId).toBe(parent?.spanId);
      expect(child?.traceId).toBe(parent?.traceId);
    } finally {
      await tracing.shutdown();
      await receiver.close();
    }
  });

  it('sends protobuf by default, which the JSON-only test receiver refuses loudly', async () => {
    const receiver = await startOtlpReceiver();
    const tracing = startTracing(tracingFromEnv('writer-agent', { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }));
    try {
      await withSpan('work', {}, async () => undefined);
      await tracing.forceFlush().catch(() => undefined);
      await expect(receiver.waitFor((spans) => spans.length > 0, 5_000)).rejects.toThrow(
        'OTLP receiver: refused a application/x-protobuf export: set OTEL_EXPORTER_OTLP_PROTOCOL=http/json',
      );
    } finally {
      await tracing.shutdown();
      await receiver.close();
    }
  });

  it('has no exporter without an endpoint', async () => {
    expect(tracingFromEnv('orchestrator', {})).toEqual({ service: 'orchestrator' });
    expect(tracingFromEnv('orchestrator', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({
      service: 'orchestrator',
      otlp: { endpoint: 'http://collector:4318', protocol: 'http/protobuf' },
    });
    const tracing = startTracing({ service: 'orchestrator' });
    try {
      expect(tracing.exporting).toBe(false);
      // Spans are not recorded, but still have ids, for logs and propagated headers.
      await withSpan('work', {}, async () => {
        expect(trace.getActiveSpan()?.isRecording()).toBe(false);
        expect(activeTraceIds()?.traceId).toMatch(/^[0-9a-f]{32}$/);
      });
    } finally {
      await tracing.shutdown();
    }
  });
});
