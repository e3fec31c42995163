import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOffSampler, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

export interface TracingOptions {
  /** `service.name` of every span. */
  readonly service: string;
  readonly serviceVersion?: string;
  /**
   * OTLP/HTTP export (`OTEL_EXPORTER_OTLP_ENDPOINT`, e.g. http://otel-collector:4318; spans go
   * to `<endpoint>/v1/traces`). Without it (and without `exporter`) spans are not recorded:
   * they still carry trace ids into logs, the audit trail and propagated headers, but
   * nothing collects their timings and attributes for no one, and nothing dials
   * 127.0.0.1:4318. Their headers then say "not sampled", so set the endpoint on every
   * service or none.
   */
  readonly otlp?: { readonly endpoint: string; readonly protocol?: OtlpProtocol };
  /** An extra exporter, exported span by span (tests: an InMemorySpanExporter). */
  readonly exporter?: SpanExporter;
}

export interface Tracing {
  /** True when spans leave the process (OTLP or an extra exporter). */
  readonly exporting: boolean;
  forceFlush(): Promise<void>;
  /** Flushes, then unregisters the global provider, propagator and context manager. */
  shutdown(): Promise<void>;
}

/** The shape of the environment `tracingFromEnv` reads; every service's config has these (libs/contracts CommonEnv). */
export interface TracingEnv {
  readonly OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  readonly OTEL_EXPORTER_OTLP_PROTOCOL?: OtlpProtocol | undefined;
}

export function tracingFromEnv(service: string, env: TracingEnv): TracingOptions {
  return {
    service,
    ...(env.OTEL_EXPORTER_OTLP_ENDPOINT
      ? { otlp: { endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT, protocol: env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf' } }
      : {}),
  };
}

let active: Tracing | undefined;

/**
 * Registers the process's tracer provider (the SDK's, not sdk-node: no auto-instrumentation,
 * a small footprint), the async-local-storage context manager and the W3C trace-context
 * and baggage propagators, so that `trace.getTracer(...)`, `context.with(...)` and
 * `propagation.inject/extract` work everywhere, the Anthropic SDK's included.
 */
export function startTracing(options: TracingOptions): Tracing {
  if (active) throw new Error('tracing is already started in this process; shut it down first');
  const processors: SpanProcessor[] = [];
  if (options.otlp) processors.push(new BatchSpanProcessor({ exporter: otlpExporter(options.otlp.endpoint, options.otlp.protocol ?? 'http/protobuf') }));
  if (options.exporter) processors.push(new SimpleSpanProcessor({ exporter: options.exporter }));
  const provider = new TracerProvider({
    // Recording spans nobody exports cost every message and model call their attributes and timings for nothing.
    ...(processors.length === 0 ? { sampler: new AlwaysOffSampler() } : {}),
    resource: resourceFromAttributes({
      'service.name': options.service,
      ...(options.serviceVersion ? { 'service.version': options.serviceVersion } : {}),
    }),
    spanProcessors: processors,
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  trace.setGlobalTracerProvider(provider);

  let stopped: Promise<void> | undefined;
  const tracing: Tracing = {
    exporting: processors.length > 0,
    forceFlush: () => provider.forceFlush(),
    shutdown: () =>
      (stopped ??= provider.shutdown().finally(() => {
        trace.disable();
        propagation.disable();
        context.disable();
        if (active === tracing) active = undefined;
      })),
  };
  active = tracing;
  return tracing;
}

function otlpExporter(endpoint: string, protocol: OtlpProtocol): SpanExporter {
  const url = `${endpoint.replace(/\/+$/, '')}/v1/traces`;
  return protocol === 'http/json' ? new OtlpJsonExporter({ url }) : new OtlpProtobufExporter({ url });
}
