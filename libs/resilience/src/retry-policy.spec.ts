import { CallCancelledError } from './resilience-errors';
import { apiError } from './test/fake-api-error';
import { AttemptsFailedError, type GiveUpEvent, type RetryEvent, type RetryExecuteOptions, RetryPolicy } from './retry-policy';

const settings = { maxAttempts: 3, initialDelayMs: 500, maxDelayMs: 20_000 };

describe(RetryPolicy.name, () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  function recorder(policy: RetryPolicy) {
    const retries: RetryEvent[] = [];
    const giveUps: GiveUpEvent[] = [];
    policy.onRetry((event) => retries.push(event));
    policy.onGiveUp((event) => giveUps.push(event));
    return { retries, giveUps };
  }

  /** Runs `policy` on a model call that always fails with `error`, the fake clock running to the end. */
  async function alwaysFailing(policy: RetryPolicy, error: Error, options: Partial<RetryExecuteOptions> = {}) {
    let calls = 0;
    const outcome = policy
      .execute(
        async () => {
          calls++;
          throw error;
        },
        { key: 'claude-sonnet-5-5', signal: new AbortController().signal, ...options },
      )
      .catch((caught: unknown) => caught);
    await jest.runAllTimersAsync();
    return { error: (await outcome) as AttemptsFailedError, calls };
  }

  it('waits at least the retry-after of a 429 before the next attempt', async () => {
    const policy = new RetryPolicy(settings);
    const { retries } = recorder(policy);
    const calls: number[] = [];
    const result = policy.execute(
      async () => {
        calls.push(Date.now());
        if (calls.length === 1) throw apiError(429, { 'retry-after': '2' }, 'rate_limit_error');
        return 'ok';
      },
      { key: 'claude-haiku-5-5', signal: new AbortController().signal },
    );
    await jest.advanceTimersByTimeAsync(1_999);
    expect(calls).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toBe('ok');
    expect(calls[1] - calls[0]).toBeGreaterThanOrEqual(2_000);
    expect(retries).toEqual([expect.objectContaining({ key: 'claude-haiku-5-5', attempt: 1, kind: 'rate_limited', status: 429, retryAfterMs: 2_000, delayMs: 2_000 })]);
  });

  it('retries a 500 and succeeds on the second attempt', async () => {
    const policy = new RetryPolicy(settings);
    const { retries, giveUps } = recorder(policy);
    let calls = 0;
    const result = policy.execute(
      async (attempt) => {
        calls++;
        if (attempt === 1) throw apiError(500);
        return `served on attempt ${attempt}`;
      },
      { key: 'm', signal: new AbortController().signal },
    );
    await jest.runAllTimersAsync();
    await expect(result).resolves.toBe('served on attempt 2');
    expect(calls).toBe(2);
    expect(retries).toHaveLength(1);
    expect(retries[0].delayMs).toBeLessThan(500);
    expect(giveUps).toEqual([]);
  });

  it('does not retry a 400 and says why in words', async () => {
    const policy = new RetryPolicy(settings);
    const { retries, giveUps } = recorder(policy);
    const { error, calls } = await alwaysFailing(policy, apiError(400, {}, 'invalid_request_error'));
    expect(calls).toBe(1);
    expect(retries).toEqual([]);
    expect(error).toBeInstanceOf(AttemptsFailedError);
    expect(error).toMatchObject({ reason: 'not_retryable', attempts: 1, classification: { kind: 'client_error', retryable: false } });
    expect(error.message).toBe('claude-sonnet-5-5 rejected the request (HTTP 400 invalid_request_error)');
    expect(giveUps).toEqual([expect.objectContaining({ reason: 'not_retryable', kind: 'client_error', attempts: 1 })]);
  });

  it('honours x-should-retry: false on an otherwise retryable status', async () => {
    const { error, calls } = await alwaysFailing(new RetryPolicy(settings), apiError(503, { 'x-should-retry': 'false' }));
    expect(calls).toBe(1);
    expect(error).toMatchObject({ reason: 'not_retryable' });
  });

  it('stops after maxAttempts with the last failure in the reason', async () => {
    const policy = new RetryPolicy(settings);
    const { giveUps } = recorder(policy);
    const { error, calls } = await alwaysFailing(policy, apiError(529, {}, 'overloaded_error'));
    expect(calls).toBe(3);
    expect(error.reason).toBe('attempts_exhausted');
    expect(error.message).toBe('claude-sonnet-5-5 was overloaded (HTTP 529 overloaded_error); gave up after 3 attempts');
    expect(giveUps).toEqual([expect.objectContaining({ attempts: 3, reason: 'attempts_exhausted' })]);
  });

  it('backs off with full jitter under an exponential ceiling capped at maxDelayMs', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0.999);
    const policy = new RetryPolicy({ maxAttempts: 6, initialDelayMs: 500, maxDelayMs: 3_000 });
    const { retries } = recorder(policy);
    await alwaysFailing(policy, apiError(500));
    // ceilings 500, 1000, 2000, 3000 (capped), 3000; full jitter draws below each one
    expect(retries.map((event) => event.delayMs)).toEqual([499, 999, 1998, 2997, 2997]);

    jest.spyOn(Math, 'random').mockReturnValue(0);
    const zero = recorder(policy);
    await alwaysFailing(policy, apiError(500));
    expect(zero.retries.every((event) => event.delayMs === 0)).toBe(true);
  });

  it('gives up at once, with the reason, when retry-after is longer than the time left', async () => {
    const policy = new RetryPolicy(settings);
    const { retries } = recorder(policy);
    const { error } = await alwaysFailing(policy, apiError(429, { 'retry-after': '30' }), { key: 'claude-haiku-5-5', deadline: Date.now() + 10_000 });
    expect(retries).toEqual([]);
    expect(error.reason).toBe('out_of_time');
    expect(error.message).toBe(
      "claude-haiku-5-5 was rate limited (HTTP 429) and asked to wait 30 s, more than the 10 s left of the call's time budget",
    );
  });

  it('ends a back-off sleep as soon as the caller aborts', async () => {
    const policy = new RetryPolicy(settings);
    const caller = new AbortController();
    let calls = 0;
    const failure = policy
      .execute(
        async () => {
          calls++;
          throw apiError(429, { 'retry-after': '60' });
        },
        { key: 'm', signal: caller.signal },
      )
      .catch((error: unknown) => error);
    await jest.advanceTimersByTimeAsync(1_000);
    caller.abort(new Error('task cancelled'));
    const error = await failure;
    expect(error).toBeInstanceOf(CallCancelledError);
    expect(calls).toBe(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('lets failures that are not model-call failures through untouched', async () => {
    const denial = Object.assign(new Error('budget exceeded'), { name: 'StepFailure' });
    const { error, calls } = await alwaysFailing(new RetryPolicy(settings), denial);
    expect(error).toBe(denial);
    expect(calls).toBe(1);
  });

  it('does not retry where the caller says a fallback should take over', async () => {
    const { error, calls } = await alwaysFailing(new RetryPolicy(settings), apiError(529), {
      retryWhen: (classification) => classification.kind !== 'overloaded',
    });
    expect(calls).toBe(1);
    expect(error).toMatchObject({ reason: 'not_retryable', classification: { kind: 'overloaded' } });
  });
});
