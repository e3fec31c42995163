import { withAttemptTimeout } from './attempt-timeout';
import { AttemptTimeoutError } from './resilience-errors';
import { hangUntilAborted } from './test/fake-api-error';

describe(withAttemptTimeout.name, () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('aborts a hung attempt at its limit and reports a timeout', async () => {
    let seen: AbortSignal | undefined;
    const attempt = withAttemptTimeout('claude-haiku-5-5', 5_000, new AbortController().signal, (signal) => {
      seen = signal;
      return hangUntilAborted(signal);
    }).catch((error: unknown) => error);
    await jest.advanceTimersByTimeAsync(4_999);
    expect(seen?.aborted).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    const error = await attempt;
    expect(error).toBeInstanceOf(AttemptTimeoutError);
    expect(error).toMatchObject({ model: 'claude-haiku-5-5', timeoutMs: 5_000, message: 'claude-haiku-5-5 did not answer within 5 s' });
    expect(seen?.aborted).toBe(true);
  });

  it('passes the caller’s abort through as such, not as a timeout', async () => {
    const caller = new AbortController();
    const attempt = withAttemptTimeout('m', 5_000, caller.signal, hangUntilAborted).catch((error: unknown) => error);
    caller.abort();
    const error = await attempt;
    expect(error).not.toBeInstanceOf(AttemptTimeoutError);
    expect(error).toMatchObject({ name: 'APIUserAbortError' });
  });

  it('returns the value of an attempt that answers in time and leaves no timer behind', async () => {
    await expect(withAttemptTimeout('m', 5_000, new AbortController().signal, async () => 'answer')).resolves.toBe('answer');
    expect(jest.getTimerCount()).toBe(0);
  });
});
