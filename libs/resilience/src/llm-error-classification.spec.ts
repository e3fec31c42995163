import { classifyLlmError } from './llm-error-classification';

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
    expect(classifyLlmError({ status: 429, headers: new Headers({ 'retry-after': '2' }) }).retryAfterMs).toBe(2000);
    expect(classifyLlmError({ status: 429, headers: { 'retry-after-ms': '150', 'retry-after': '9' } }).retryAfterMs).toBe(150);
  });

  it('treats connection errors and timeouts as retryable and our own abort as final', () => {
    expect(classifyLlmError({ name: 'APIConnectionError' })).toEqual({ retryable: true, kind: 'connection' });
    expect(classifyLlmError({ name: 'APIConnectionTimeoutError' })).toEqual({ retryable: true, kind: 'timeout' });
    expect(classifyLlmError({ name: 'APIUserAbortError' })).toEqual({ retryable: false, kind: 'aborted' });
    expect(classifyLlmError(new Error('boom'))).toEqual({ retryable: false, kind: 'unknown' });
  });
});
