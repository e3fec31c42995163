// The error types the real Messages API answers with; the SDK maps the HTTP status to
// its error class and exposes `error.type` from the body, so both must match.
export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly status: number,
    readonly type: ApiErrorType,
    message: string,
  ) {
    super(message);
  }
}

export const invalidRequest = (message: string): ApiError => new ApiError(400, 'invalid_request_error', message);

/** The body shape of every real API error. */
export function errorBody(error: ApiError, requestId: string) {
  return { type: 'error', error: { type: error.type, message: error.message }, request_id: requestId };
}
