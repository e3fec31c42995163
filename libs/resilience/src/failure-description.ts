import type { LlmErrorClassification } from './llm-error-classification';

/** A failure in words a user can read: "overloaded (HTTP 529)", "rejected the request (HTTP 400 invalid_request_error)". */
export function describeFailure(classification: LlmErrorClassification): string {
  const http = classification.status !== undefined ? ` (HTTP ${classification.status}${typeSuffix(classification)})` : '';
  switch (classification.kind) {
    case 'rate_limited':
      return `was rate limited${http}`;
    case 'overloaded':
      return `was overloaded${http}`;
    case 'server_error':
      return `had a server error${http}`;
    case 'timeout':
      return `timed out${http}`;
    case 'connection':
      return 'could not be reached';
    case 'client_error':
      return `rejected the request${http}`;
    case 'circuit_open':
      return 'was skipped: its circuit breaker is open after repeated failures';
    case 'bulkhead_full':
      return 'was not called: too many model calls in progress';
    case 'aborted':
      return 'was cancelled';
    default:
      return `failed${http}`;
  }
}

function typeSuffix(classification: LlmErrorClassification): string {
  const type = classification.errorType;
  return type && type !== String(classification.status) ? ` ${type}` : '';
}
