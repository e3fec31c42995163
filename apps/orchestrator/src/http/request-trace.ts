import { randomBytes, randomUUID } from 'node:crypto';
import { activeTraceIds, type TraceIds } from '@atelier/observability';
import type { FastifyInstance, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** The ids of the request's server span: written on the audit events and the task it causes. */
    trace: TraceIds;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request ids come from the caller's `x-request-id` when it is sane, so support can correlate. */
export function requestIdFor(request: { headers: Record<string, string | string[] | undefined> }): string {
  const header = request.headers['x-request-id'];
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
}

/**
 * Every request answers with its request id, and knows its trace: the server span (opened
 * by the observability hooks, continuing the caller's W3C `traceparent`) is active here.
 * Health probes and scrapes get no span; they write nothing, so any fresh ids do.
 */
export function registerRequestTrace(app: FastifyInstance): void {
  app.decorateRequest('trace', undefined as unknown as TraceIds);
  app.addHook('onRequest', async (request: FastifyRequest, reply) => {
    request.trace = activeTraceIds() ?? { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') };
    void reply.header('x-request-id', request.id);
  });
}
