import { HttpException } from '@nestjs/common';

export interface ProblemFieldError {
  field: string;
  message: string;
}

/** An RFC 9457 problem the API answers with; `type` is a stable URI per kind of problem. */
export class Problem extends HttpException {
  constructor(
    readonly statusCode: number,
    readonly title: string,
    readonly detail: string,
    readonly errors: ProblemFieldError[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail, statusCode);
  }

  get type(): string {
    return `https://atelier.dev/problems/${this.title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  }

  static validation(errors: ProblemFieldError[]): Problem {
    return new Problem(400, 'Invalid request', 'The request is not valid; see errors[] for each field.', errors);
  }

  static unauthorized(detail: string): Problem {
    return new Problem(401, 'Unauthorized', detail, [], { 'WWW-Authenticate': 'Bearer' });
  }

  static forbidden(detail: string): Problem {
    return new Problem(403, 'Forbidden', detail);
  }

  static notFound(detail: string): Problem {
    return new Problem(404, 'Not found', detail);
  }

  static conflict(detail: string): Problem {
    return new Problem(409, 'Conflict', detail);
  }

  static unprocessable(detail: string): Problem {
    return new Problem(422, 'Unprocessable request', detail);
  }

  static unavailable(detail: string, retryAfterSeconds: number): Problem {
    return new Problem(503, 'Service unavailable', detail, [], { 'Retry-After': String(retryAfterSeconds) });
  }
}
