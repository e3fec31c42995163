import 'reflect-metadata';
import type { DynamicModule, INestApplication, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { registerHttpServerSpans } from './http-server-spans';
import { createLogger } from './logger';
import { metricsCatalog } from './metrics-catalog';
import { METRICS_REGISTRY, TRACING } from './readiness-check';
import type { Tracing } from './tracing';

export interface NestServiceOptions<C> {
  service: string;
  /** Validates the environment; a ConfigError stops the process with one line per variable. */
  loadConfig: () => C;
  module: (config: C) => DynamicModule;
  port: (config: C) => number;
  host?: (config: C) => string;
  logLevel: (config: C) => string;
  bodyLimit?: (config: C) => number;
  /** Extra set-up before listening (OpenAPI, hooks). */
  configure?: (app: NestFastifyApplication, config: C) => void | Promise<void>;
  genReqId?: (request: { headers: Record<string, string | string[] | undefined> }) => string;
  /** SIGTERM/SIGINT: how long closing may take before the process gives up and exits 1. Default 30 s. */
  shutdownTimeoutMs?: (config: C) => number;
}

const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

/** Shared process lifecycle of every Nest service: config, JSON logs, metrics, SIGTERM. */
export async function runNestService<C>(options: NestServiceOptions<C>): Promise<INestApplication> {
  let config: C;
  try {
    config = options.loadConfig();
  } catch (error) {
    if ((error as Error).name === 'ConfigError') {
      process.stderr.write(`${(error as Error).message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger({ service: options.service, level: options.logLevel(config) });
  const adapter = new FastifyAdapter({
    logger: false,
    bodyLimit: options.bodyLimit?.(config) ?? 1024 * 1024,
    ...(options.genReqId ? { genReqId: options.genReqId } : {}),
  });
  try {
    const app = await NestFactory.create<NestFastifyApplication>(options.module(config), adapter, {
      logger: nestLogger(logger),
      bufferLogs: false,
    });
    observeHttp(app);
    await options.configure?.(app, config);
    exitCleanlyOnSignals(app, logger, options.shutdownTimeoutMs?.(config) ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
    const port = options.port(config);
    await app.listen(port, options.host?.(config) ?? '0.0.0.0');
    // Announced at any log level (operators and test harnesses read the bound address from it).
    const announce = logger.isLevelEnabled('info') ? 'info' : (logger.level as 'warn' | 'error' | 'fatal' | 'silent');
    logger[announce]({ url: await app.getUrl() }, `${options.service} listening`);
    return app;
  } catch (error) {
    logger.fatal({ err: error }, `${options.service} failed to start`);
    process.exit(1);
  }
}

/**
 * SIGTERM/SIGINT close the app (every module's shutdown hooks: consumers stop pulling and
 * hand back in-flight work within their grace, connections drain), then exit 0. Nest's own
 * shutdown hooks would re-raise the signal instead, so an orderly stop would look like a
 * kill; a close that hangs past `timeoutMs` exits 1.
 */
function exitCleanlyOnSignals(app: INestApplication, logger: Logger, timeoutMs: number): void {
  let closing = false;
  const close = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown did not finish in time; exiting');
      process.exit(1);
    }, timeoutMs).unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', close);
  process.on('SIGINT', close);
}

function observeHttp(app: NestFastifyApplication): void {
  const metrics = metricsCatalog(app.get<Registry>(METRICS_REGISTRY));
  const fastify = app.getHttpAdapter().getInstance();
  if (app.get<Tracing | null>(TRACING, { strict: false })) registerHttpServerSpans(fastify);
  fastify.addHook('onResponse', async (request, reply) => {
    // The route template, not the raw URL, keeps label cardinality bounded.
    const labels = { method: request.method, route: request.routeOptions?.url ?? 'unmatched', status: String(reply.statusCode) };
    metrics.httpRequestDuration.observe(labels, reply.elapsedTime / 1000);
    metrics.httpRequests.inc(labels);
  });
}

function nestLogger(logger: Logger): LoggerService {
  return {
    log: (message: unknown, context?: string) => logger.debug({ context }, String(message)),
    error: (message: unknown, trace?: string, context?: string) => logger.error({ context, trace }, String(message)),
    warn: (message: unknown, context?: string) => logger.warn({ context }, String(message)),
    debug: (message: unknown, context?: string) => logger.debug({ context }, String(message)),
    verbose: (message: unknown, context?: string) => logger.trace({ context }, String(message)),
  };
}
