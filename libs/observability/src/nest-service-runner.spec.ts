import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { runNestService } from './nest-service-runner';
import { ObservabilityModule } from './observability.module';
import { activeTraceIds } from './span-helpers';
import { startTracing } from './tracing';

@Controller('v1/ping')
class PingController {
  @Get()
  async ping() {
    await new Promise((resolve) => setTimeout(resolve, 1));
    return { traceId: activeTraceIds()?.traceId };
  }
}

describe(runNestService.name, () => {
  const exporter = new InMemorySpanExporter();
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    @Module({
      imports: [ObservabilityModule.forRoot({ service: 'test-service', logLevel: 'silent', readiness: [], tracing: { service: 'test-service', exporter } })],
      controllers: [PingController],
    })
    class TestModule {}
    app = await runNestService({
      service: 'test-service',
      loadConfig: () => ({}),
      module: () => ({ module: TestModule }),
      port: () => 0,
      host: () => '127.0.0.1',
      logLevel: () => 'silent',
    });
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(() => app?.close());

  it('traces each request in a server span active in the controller, and counts it by route and status', async () => {
    const response = await fetch(`${base}/v1/ping`, { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
    expect(await response.json()).toEqual({ traceId: '0af7651916cd43dd8448eb211c80319c' });
    expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(['GET /v1/ping']);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('http_server_requests_total{method="GET",route="/v1/ping",status="200",service="test-service"} 1');
    expect(metrics).toContain('# TYPE atelier_llm_retries_total counter');
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    // probes and scrapes are not traced
    expect(exporter.getFinishedSpans()).toHaveLength(1);
  });

  it('shuts tracing down with the app', async () => {
    await app.close();
    const again = startTracing({ service: 'after-close' });
    await again.shutdown();
  });
});
