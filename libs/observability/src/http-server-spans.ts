import { type Context, context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { recordSpanError, atelierTracer } from './span-helpers';
import { extractTraceContext } from './trace-propagation';

export interface HttpServerSpanOptions {
  /** Requests without a span: health probes and scrapes by default (they would drown the traces). */
  readonly ignore?: (url: string) => boolean;
  /** Answers with `x-trace-id`, so a caller can quote the trace in a support request. Default true. */
  readonly exposeTraceId?: boolean;
}

const IGNORED_BY_DEFAULT = /^\/(?:health(?:\/|$|\?)|metrics(?:$|\?))/;

/**
 * A SERVER span per request, continuing the caller's W3C `traceparent`, active while the
 * route runs (Nest guards, pipes, controllers, services: everything awaits inside it),
 * named `<METHOD> <route template>` with `http.response.status_code`; 5xx mark it failed.
 */
export function registerHttpServerSpans(app: FastifyInstance, options: HttpServerSpanOptions = {}): void {
  const ignore = options.ignore ?? ((url: string) => IGNORED_BY_DEFAULT.test(url));
  const exposeTraceId = options.exposeTraceId ?? true;
  const spans = new WeakMap<FastifyRequest, { span: Span; context: Context; failed?: boolean }>();

  app.addHook('onRequest', (request, reply, done) => {
    if (ignore(request.url)) return done();
    const parent = extractTraceContext((name) => {
      const value = request.headers[name];
      return Array.isArray(value) ? value[0] : value;
    });
    const span = atelierTracer().startSpan(
      request.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          'url.path': request.url.split('?')[0] ?? request.url,
          'url.scheme': request.protocol,
          ...(request.headers['user-agent'] ? { 'user_agent.original': request.headers['user-agent'] } : {}),
        },
      },
      parent,
    );
    const active = trace.setSpan(parent, span);
    spans.set(request, { span, context: active });
    if (exposeTraceId) void reply.header('x-trace-id', span.spanContext().traceId);
    context.with(active, done);
  });

  // Body parsing runs outside the onRequest scope; enter it again right before the handler.
  app.addHook('preHandler', (request, _reply, done) => {
    const entry = spans.get(request);
    if (entry) context.with(entry.context, done);
    else done();
  });

  app.addHook('onError', (request, _reply, error, done) => {
    const entry = spans.get(request);
    // A 4xx is the caller's mistake, not a failure of this server (HTTP semantic conventions).
    if (entry && (error.statusCode ?? 500) >= 500) {
      recordSpanError(entry.span, error);
      entry.failed = true;
    }
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    const entry = spans.get(request);
    if (entry) {
      const route = request.routeOptions?.url;
      if (route) {
        entry.span.updateName(`${request.method} ${route}`);
        entry.span.setAttribute('http.route', route);
      }
      entry.span.setAttribute('http.response.status_code', reply.statusCode);
      // error.type: the exception's when one was recorded, else the status code.
      if (reply.statusCode >= 500 && !entry.failed) {
        entry.span.setAttribute('error.type', String(reply.statusCode));
        entry.span.setStatus({ code: SpanStatusCode.ERROR });
      }
      entry.span.end();
      spans.delete(request);
    }
    done();
  });

  app.addHook('onRequestAbort', (request, done) => {
    const entry = spans.get(request);
    if (entry) {
      entry.span.setAttribute('error.type', 'client_aborted');
      entry.span.end();
      spans.delete(request);
    }
    done();
  });
}
