import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerHttpServerSpans } from './http-server-spans';
import { activeTraceIds } from './span-helpers';
import { startTracing, type Tracing } from './tracing';

describe(registerHttpServerSpans.name, () => {
  let exporter: InMemorySpanExporter;
  let tracing: Tracing;
  let app: FastifyInstance;
  let base: string;
  const seenInHandler: (ReturnType<typeof activeTraceIds> | undefined)[] = [];

  beforeEach(async () => {
    exporter = new InMemorySpanExporter();
    tracing = startTracing({ service: 'orchestrator', exporter });
    app = Fastify();
    registerHttpServerSpans(app);
    app.post('/v1/tasks', async (request) => {
      // after body parsing and an await: the request's span must still be the active one
      await new Promise((resolve) => setTimeout(resolve, 5));
      seenInHandler.push(activeTraceIds());
      return { received: (request.body as { goal: string }).goal };
    });
    app.get('/v1/tasks/:id', async () => {
      throw new Error('database exploded');
    });
    app.get('/health/ready', async () => ({ status: 'ok' }));
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    seenInHandler.length = 0;
  });

  afterEach(async () => {
    await app.close();
    await tracing.shutdown();
  });

  it('continues the caller’s traceparent in a server span that stays active through body parsing and the handler', async () => {
    const response = await fetch(`${base}/v1/tasks?verbose=1`, {
      method: 'POST',
      headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'content-type': 'application/json' },
      body: JSON.stringify({ goal: 'heat pumps' }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: 'heat pumps' });
    expect(response.headers.get('x-trace-id')).toBe('4bf92f3577b34da6a3ce929d0e0e4736');

    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe('POST /v1/tasks');
    expect(span?.kind).toBe(SpanKind.SERVER);
    expect(span?.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(span?.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/v1/tasks', 'url.path': '/v1/tasks', 'http.response.status_code': 200 });
    expect(seenInHandler).toEqual([{ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: span?.spanContext().spanId }]);
  });

  it('starts a new trace without a traceparent, names the span by route template, and marks 5xx failed', async () => {
    const response = await fetch(`${base}/v1/tasks/0d4c7d7e`);
    expect(response.status).toBe(500);
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe('GET /v1/tasks/:id');
    expect(span?.parentSpanContext).toBeUndefined();
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.attributes).toMatchObject({ 'http.response.status_code': 500, 'error.type': 'Error' });
    expect(response.headers.get('x-trace-id')).toBe(span?.spanContext().traceId);
  });

  it('leaves health probes out of the traces', async () => {
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
