import { BrokenCircuitError, BulkheadRejectedError, TaskCancelledError } from 'cockatiel';
import { classifyLlmError } from './llm-error-classification';
import { AttemptTimeoutError, BulkheadFullError, CallCancelledError, CircuitOpenError } from './resilience-errors';
import { apiError } from './test/fake-api-error';

describe(classifyLlmError.name, () => {
  it.each([
    [400, false, 'client_error'],
    [401, false, 'client_error'],
    [403, false, 'client_error'],
    [404, false, 'client_error'],
    [413, false, 'client_error'],
    [422, false, 'client_error'],
    [408, true, 'timeout'],
    [409, true, 'client_error'],
    [429, true, 'rate_limited'],
    [500, true, 'server_error'],
    [503, true, 'server_error'],
    [529, true, 'overloaded'],
  ])('HTTP %i → retryable %s (%s)', (status, retryable, kind) => {
    expect(classifyLlmError({ status, headers: new Headers() })).toMatchObject({ status, retryable, kind });
  });

  it('honours x-should-retry and retry-after(-ms)', () => {
    expect(classifyLlmError({ status: 500, headers: new Headers({ 'x-should-retry': 'false' }) }).retryable).toBe(false);
    expect(classifyLlmError({ status: 400, headers: new Headers({ 'x-should-retry': 'true' }) }).retryable).toBe(true);
    expect(classifyLlmError({ status: 429, headers: new Headers({ 'retry-after': '2' }) }).retryAfterMs).toBe(2000);
    expect(classifyLlmError({ status: 429, headers: { 'retry-after-ms': '150', 'retry-after': '9' } }).retryAfterMs).toBe(150);
    expect(classifyLlmError({ status: 429, headers: { 'retry-after-ms': '', 'retry-after': '1.5' } }).retryAfterMs).toBe(1500);
    expect(classifyLlmError({ status: 429, headers: { 'retry-after': 'soon' } }).retryAfterMs).toBeUndefined();
  });

  it('reads a retry-after given as an HTTP date', () => {
    const inTenSeconds = new Date(Date.now() + 10_000).toUTCString();
    const { retryAfterMs } = classifyLlmError({ status: 503, headers: { 'retry-after': inTenSeconds } });
    expect(retryAfterMs).toBeGreaterThan(8_000);
    expect(retryAfterMs).toBeLessThanOrEqual(10_000);
  });

  it('names the API error type for error.type, else the status', () => {
    expect(classifyLlmError(apiError(529, {}, 'overloaded_error')).errorType).toBe('overloaded_error');
    expect(classifyLlmError(apiError(502)).errorType).toBe('502');
    expect(classifyLlmError({ status: 400, error: { type: 'error', error: { type: 'invalid_request_error' } } }).errorType).toBe('invalid_request_error');
  });

  it('treats connection errors and timeouts as retryable and our own abort as final', () => {
    expect(classifyLlmError({ name: 'APIConnectionError' })).toMatchObject({ retryable: true, kind: 'connection' });
    expect(classifyLlmError({ name: 'APIConnectionTimeoutError' })).toMatchObject({ retryable: true, kind: 'timeout' });
    expect(classifyLlmError({ name: 'APIUserAbortError' })).toMatchObject({ retryable: false, kind: 'aborted' });
    expect(classifyLlmError(new Error('boom'))).toEqual({ retryable: false, kind: 'unknown' });
  });

  it('treats an answer cut mid-body and socket failures as retryable connection failures', () => {
    // what the SDK 1.12 lets through when the simulator's `stream-cut` drops the socket
    const cutJson = new TypeError('terminated', { cause: Object.assign(new Error('other side closed'), { name: 'SocketError', code: 'UND_ERR_SOCKET' }) });
    const cutStream = Object.assign(new Error('terminated', { cause: new TypeError('terminated') }), { name: 'AnthropicError' });
    expect(classifyLlmError(cutJson)).toMatchObject({ retryable: true, kind: 'connection' });
    expect(classifyLlmError(cutStream)).toMatchObject({ retryable: true, kind: 'connection' });
    expect(classifyLlmError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toMatchObject({ kind: 'connection' });
    expect(classifyLlmError(Object.assign(new Error('headers timeout'), { code: 'UND_ERR_HEADERS_TIMEOUT' }))).toMatchObject({ retryable: true, kind: 'timeout' });
  });

  it('knows the policies’ own errors and cockatiel’s', () => {
    expect(classifyLlmError(new AttemptTimeoutError('m', 1000))).toMatchObject({ retryable: true, kind: 'timeout' });
    expect(classifyLlmError(new CircuitOpenError('m', undefined))).toMatchObject({ kind: 'circuit_open' });
    expect(classifyLlmError(new BrokenCircuitError())).toMatchObject({ kind: 'circuit_open' });
    expect(classifyLlmError(new BulkheadFullError(1, 0))).toMatchObject({ kind: 'bulkhead_full' });
    expect(classifyLlmError(new BulkheadRejectedError(1, 0))).toMatchObject({ kind: 'bulkhead_full' });
    expect(classifyLlmError(new CallCancelledError())).toMatchObject({ retryable: false, kind: 'aborted' });
    expect(classifyLlmError(new TaskCancelledError())).toMatchObject({ kind: 'aborted' });
  });

  it('uses a classification made where the error was caught, and looks through causes', () => {
    const gatewayError = Object.assign(new Error('model call failed'), { classification: { retryable: true, kind: 'overloaded', status: 529 } });
    expect(classifyLlmError(gatewayError)).toEqual({ retryable: true, kind: 'overloaded', status: 529 });
    const wrapped = new Error('outer', { cause: new Error('middle', { cause: apiError(429, { 'retry-after': '3' }) }) });
    expect(classifyLlmError(wrapped)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 3000 });
  });
});
