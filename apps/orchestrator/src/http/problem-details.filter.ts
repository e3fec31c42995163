import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import { LOGGER, type Logger, redactText } from '@atelier/observability';
import { isDatabaseUnavailable } from '@atelier/persistence';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Problem } from './problem';

/** Every error leaves as application/problem+json; internals and secrets never do. */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const problem = this.toProblem(exception, request);
    const body = {
      type: problem.type,
      title: problem.title,
      status: problem.statusCode,
      detail: redactText(problem.detail),
      instance: request.url.split('?')[0],
      requestId: request.id,
      ...(problem.errors.length ? { errors: problem.errors } : {}),
    };
    void reply.status(problem.statusCode).headers({ ...problem.headers, 'content-type': 'application/problem+json' }).send(body);
  }

  private toProblem(exception: unknown, request: FastifyRequest): Problem {
    if (exception instanceof Problem) return exception;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const titles: Record<number, string> = { 404: 'Not found', 405: 'Method not allowed', 413: 'Payload too large', 415: 'Unsupported media type' };
      return new Problem(status, titles[status] ?? 'Request failed', exception.message);
    }
    const fastifyError = exception as { statusCode?: number; code?: string; message?: string };
    if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new Problem(413, 'Payload too large', 'The request body is too large.');
    if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
      return new Problem(fastifyError.statusCode, 'Invalid request', fastifyError.message ?? 'Bad request');
    }
    if (isDatabaseUnavailable(exception)) {
      this.logger.warn({ err: exception, requestId: request.id }, 'database unavailable');
      return Problem.unavailable('The database is unavailable; retry shortly.', 5);
    }
    this.logger.error({ err: exception, requestId: request.id, route: request.routeOptions?.url }, 'unhandled error');
    return new Problem(500, 'Internal error', 'An unexpected error occurred; it has been logged with this requestId.');
  }
}
