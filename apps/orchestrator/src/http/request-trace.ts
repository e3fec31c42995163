import { randomUUID } from 'node:crypto';
import { traceFrom, type TraceContext } from '@atelier/observability';
import type { FastifyInstance, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    trace: TraceContext;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request ids come from the caller's `x-request-id` when it is sane, so support can correlate. */
export function requestIdFor(request: { headers: Record<string, string | string[] | undefined> }): string {
  const header = request.headers['x-request-id'];
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
}

/** Every request continues the caller's W3C trace or starts one, and answers with its ids. */
export function registerRequestTrace(app: FastifyInstance): void {
  app.decorateRequest('trace', undefined as unknown as TraceContext);
  app.addHook('onRequest', async (request: FastifyRequest, reply) => {
    request.trace = traceFrom(request.headers.traceparent as string | undefined);
    void reply.header('x-request-id', request.id).header('x-trace-id', request.trace.traceId);
  });
}
