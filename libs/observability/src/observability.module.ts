import { type DynamicModule, Global, Module, type InjectionToken } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';
import { createLogger } from './logger';
import { createMetricsRegistry } from './metrics';
import { MetricsController } from './metrics.controller';
import { LOGGER, METRICS_REGISTRY, READINESS_CHECKS, type ReadinessCheck } from './readiness-check';

export interface ObservabilityModuleOptions {
  service: string;
  logLevel?: string;
  /** Providers implementing ReadinessCheck (e.g. PrismaService, JetStreamClient), resolved from the app. */
  readiness: InjectionToken[];
}

/** Thin Nest adapter over the framework-free logger, metrics and health pieces. */
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
        { provide: METRICS_REGISTRY, useValue: createMetricsRegistry(options.service) },
        {
          provide: READINESS_CHECKS,
          useFactory: (...checks: ReadinessCheck[]) => checks,
          inject: options.readiness,
        },
      ],
      exports: [LOGGER, METRICS_REGISTRY],
    };
  }
}
