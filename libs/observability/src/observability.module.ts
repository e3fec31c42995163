import { type DynamicModule, Global, Inject, Injectable, Module, type InjectionToken, type OnApplicationShutdown } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type { Registry } from 'prom-client';
import { HealthController } from './health.controller';
import { createLogger } from './logger';
import { createMetricsRegistry, metricsCatalog } from './metrics-catalog';
import { MetricsController } from './metrics.controller';
import { LOGGER, METRICS_CATALOG, METRICS_REGISTRY, READINESS_CHECKS, type ReadinessCheck, TRACING } from './readiness-check';
import { startTracing, type Tracing, type TracingOptions } from './tracing';

export interface ObservabilityModuleOptions {
  service: string;
  logLevel?: string;
  /** Providers implementing ReadinessCheck (e.g. PrismaService, JetStreamClient), resolved from the app. */
  readiness: InjectionToken[];
  /**
   * Starts OpenTelemetry for the process (`tracingFromEnv(service, config)`): spans, W3C
   * propagation, trace ids in logs; OTLP export only with an endpoint. Flushed on shutdown.
   */
  tracing?: TracingOptions;
}

/** A hung collector must not hold up the pod's exit. */
const TRACING_SHUTDOWN_TIMEOUT_MS = 5_000;

@Injectable()
class TracingShutdown implements OnApplicationShutdown {
  constructor(@Inject(TRACING) private readonly tracing: Tracing | null) {}

  async onApplicationShutdown(): Promise<void> {
    if (!this.tracing) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.tracing.shutdown().catch(() => undefined),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, TRACING_SHUTDOWN_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
  }
}

/** Thin Nest adapter over the framework-free logger, metrics catalog, tracing and health pieces. */
@Global()
@Module({})
export class ObservabilityModule {
  static forRoot(options: ObservabilityModuleOptions): DynamicModule {
    return {
      module: ObservabilityModule,
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: LOGGER, useValue: createLogger({ service: options.service, level: options.logLevel }) },
        { provide: METRICS_REGISTRY, useFactory: () => createMetricsRegistry(options.service) },
        { provide: METRICS_CATALOG, useFactory: (registry: Registry) => metricsCatalog(registry), inject: [METRICS_REGISTRY] },
        { provide: TRACING, useFactory: () => (options.tracing ? startTracing(options.tracing) : null) },
        TracingShutdown,
        {
          provide: READINESS_CHECKS,
          useFactory: (...checks: ReadinessCheck[]) => checks,
          inject: options.readiness,
        },
      ],
      exports: [LOGGER, METRICS_REGISTRY, METRICS_CATALOG, TRACING],
    };
  }
}
