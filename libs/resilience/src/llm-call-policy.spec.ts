import { CircuitBreakerRegistry } from './circuit-breaker-registry';
import { type CallPolicySettings, type FallbackEvent, type LlmAttempt, LlmCallPolicy } from './llm-call-policy';
import { CallCancelledError, ModelCallFailedError } from './resilience-errors';
import { apiError, hangUntilAborted } from './test/fake-api-error';

const SONNET = 'claude-sonnet-5-5';
const HAIKU = 'claude-haiku-5-5';

const settings: CallPolicySettings = {
  models: [SONNET, HAIKU],
  attemptTimeoutMs: 30_000,
  totalTimeoutMs: 120_000,
  retry: { maxAttempts: 3, initialDelayMs: 500, maxDelayMs: 10_000 },
  fallbackOn: ['overloaded', 'circuit_open'],
};

/** The single-attempt function of the call path, scripted: one outcome per call, recorded like the ledger would. */
function scripted(outcomes: ((attempt: LlmAttempt) => Promise<string>)[]) {
  const ledger: { model: string; attempt: number; at: number }[] = [];
  const fn = async (attempt: LlmAttempt) => {
    ledger.push({ model: attempt.model, attempt: attempt.attempt, at: Date.now() });
    const next = outcomes.shift();
    if (!next) throw new Error('more attempts than scripted');
    return next(attempt);
  };
  return { fn, ledger };
}

const ok = (text = 'answer') => async () => text;
const fails = (error: Error) => async () => Promise.reject(error);

describe(LlmCallPolicy.name, () => {
  let breakers: CircuitBreakerRegistry;
  let policy: LlmCallPolicy;

  beforeEach(() => {
    jest.useFakeTimers();
    breakers = new CircuitBreakerRegistry({ consecutiveFailures: 3, halfOpenAfterMs: 30_000 });
    policy = new LlmCallPolicy({ bulkhead: { maxConcurrent: 4, maxQueued: 10 }, breakers });
  });

  afterEach(() => {
    breakers.dispose();
    expect(jest.getTimerCount()).toBe(0);
    jest.useRealTimers();
  });

  /** Runs a call to its end, moving the fake clock timer by timer and no further. */
  async function run<T>(promise: Promise<T>): Promise<T> {
    let result: { value: T } | { error: unknown } | undefined;
    void promise.then(
      (value) => (result = { value }),
      (error: unknown) => (result = { error }),
    );
    for (let step = 0; !result && step < 1_000; step++) await jest.advanceTimersToNextTimerAsync();
    if (!result) throw new Error('the call did not settle');
    if ('error' in result) throw result.error;
    return result.value;
  }

  it('falls back to the next model on 529 and reports which model served and why the first did not', async () => {
    const fallbacks: FallbackEvent[] = [];
    policy.onFallback((event) => fallbacks.push(event));
    const { fn, ledger } = scripted([fails(apiError(529, {}, 'overloaded_error')), ok('from haiku')]);

    const outcome = await run(policy.execute(settings, fn));

    expect(outcome).toMatchObject({ value: 'from haiku', model: HAIKU, fellBack: true });
    expect(ledger.map(({ model, attempt }) => [model, attempt])).toEqual([
      [SONNET, 1],
      [HAIKU, 2],
    ]);
    expect(outcome.options).toEqual([
      { model: SONNET, outcome: 'failed', kind: 'overloaded', attempts: 1, reason: 'claude-sonnet-5-5 was overloaded (HTTP 529 overloaded_error)' },
      { model: HAIKU, outcome: 'served', attempts: 1 },
    ]);
    expect(outcome.attempts).toEqual([
      expect.objectContaining({ model: SONNET, attempt: 1, outcome: 'failure', kind: 'overloaded', status: 529 }),
      expect.objectContaining({ model: HAIKU, attempt: 2, outcome: 'success' }),
    ]);
    expect(fallbacks).toEqual([{ from: SONNET, to: HAIKU, kind: 'overloaded', reason: 'claude-sonnet-5-5 was overloaded (HTTP 529 overloaded_error)' }]);
  });

  it('retries a 500 on the same model and succeeds on the second attempt', async () => {
    const retries = jest.fn();
    policy.onRetry(retries);
    const { fn, ledger } = scripted([fails(apiError(500)), ok()]);
    const outcome = await run(policy.execute(settings, fn));
    expect(outcome).toMatchObject({ model: SONNET, fellBack: false });
    expect(ledger.map(({ model, attempt }) => [model, attempt])).toEqual([
      [SONNET, 1],
      [SONNET, 2],
    ]);
    expect(outcome.attempts.map((attempt) => attempt.outcome)).toEqual(['failure', 'success']);
    expect(retries).toHaveBeenCalledWith(expect.objectContaining({ key: SONNET, attempt: 1, kind: 'server_error' }));
  });

  it('waits out a 429 retry-after of 2 s before the next attempt', async () => {
    const { fn, ledger } = scripted([fails(apiError(429, { 'retry-after': '2' })), ok()]);
    await run(policy.execute(settings, fn));
    expect(ledger).toHaveLength(2);
    expect(ledger[1].at - ledger[0].at).toBeGreaterThanOrEqual(2_000);
  });

  it('fails a 400 at once with a reason a user can read, and no fallback', async () => {
    const { fn, ledger } = scripted([fails(apiError(400, {}, 'invalid_request_error'))]);
    const error = (await run(policy.execute(settings, fn)).catch((caught: unknown) => caught)) as ModelCallFailedError;
    expect(ledger).toHaveLength(1);
    expect(error).toBeInstanceOf(ModelCallFailedError);
    expect(error.message).toBe('The model call failed: claude-sonnet-5-5 rejected the request (HTTP 400 invalid_request_error).');
    expect(error).toMatchObject({ retryable: false, kind: 'client_error' });
    expect(error.options).toEqual([
      expect.objectContaining({ model: SONNET, outcome: 'failed' }),
      { model: HAIKU, outcome: 'not_tried', attempts: 0 },
    ]);
  });

  it('times out a hung attempt, then retries it', async () => {
    const { fn, ledger } = scripted([({ signal }) => hangUntilAborted(signal), ok('second try')]);
    const outcome = await run(policy.execute({ ...settings, attemptTimeoutMs: 5_000 }, fn));
    expect(outcome.value).toBe('second try');
    expect(ledger[1].at - ledger[0].at).toBeGreaterThanOrEqual(5_000);
    expect(outcome.attempts[0]).toMatchObject({ outcome: 'failure', kind: 'timeout' });
  });

  it('says why when every model failed', async () => {
    const overloaded = () => fails(apiError(529, {}, 'overloaded_error'));
    const { fn, ledger } = scripted([overloaded(), overloaded(), overloaded(), overloaded()]);
    const error = (await run(policy.execute(settings, fn)).catch((caught: unknown) => caught)) as ModelCallFailedError;
    // sonnet: left at once for the fallback; haiku, the last option: retried up to maxAttempts
    expect(ledger.map(({ model }) => model)).toEqual([SONNET, HAIKU, HAIKU, HAIKU]);
    expect(error.message).toBe(
      'No model could answer: claude-sonnet-5-5 was overloaded (HTTP 529 overloaded_error); ' +
        'claude-haiku-5-5 was overloaded (HTTP 529 overloaded_error); gave up after 3 attempts.',
    );
    expect(error.retryable).toBe(true);
  });

  it('skips a model whose breaker is open, and probes it again once half-open', async () => {
    const serverError = () => fails(apiError(500));
    // 500 is retried but is no fallback trigger: three failed attempts end the call and open the breaker
    const { fn } = scripted([serverError(), serverError(), serverError()]);
    const first = await run(policy.execute(settings, fn)).catch((error: unknown) => error);
    expect(first).toBeInstanceOf(ModelCallFailedError);
    expect(breakers.state(SONNET)).toBe('open');

    const skipped = scripted([ok('haiku while sonnet rests')]);
    const outcome = await run(policy.execute(settings, skipped.fn));
    expect(skipped.ledger.map(({ model }) => model)).toEqual([HAIKU]);
    expect(outcome.options[0]).toEqual({
      model: SONNET,
      outcome: 'skipped',
      kind: 'circuit_open',
      attempts: 0,
      reason: 'claude-sonnet-5-5 was skipped: its circuit breaker is open after repeated failures',
    });

    await jest.advanceTimersByTimeAsync(30_000);
    expect(breakers.state(SONNET)).toBe('half-open');
    const probe = scripted([ok('sonnet is back')]);
    await expect(run(policy.execute(settings, probe.fn))).resolves.toMatchObject({ model: SONNET, value: 'sonnet is back' });
    expect(breakers.state(SONNET)).toBe('closed');
  });

  it('moves on as soon as the breaker opens during a model’s own retries', async () => {
    const serverError = () => fails(apiError(500));
    const { fn, ledger } = scripted([serverError(), serverError(), serverError(), ok('haiku')]);
    const outcome = await run(policy.execute({ ...settings, retry: { ...settings.retry, maxAttempts: 5 } }, fn));
    // the breaker (threshold 3) opened on the third failure: no fourth attempt on sonnet, no back-off spent on it
    expect(ledger.map(({ model }) => model)).toEqual([SONNET, SONNET, SONNET, HAIKU]);
    expect(outcome.options[0]).toEqual({
      model: SONNET,
      outcome: 'failed',
      kind: 'circuit_open',
      attempts: 3,
      reason: 'claude-sonnet-5-5 failed 3 times and its circuit breaker opened',
    });
  });

  it('passes a failure that is not the model’s through untouched, without retry or fallback', async () => {
    const denial = Object.assign(new Error('budget exceeded'), { name: 'StepFailure' });
    const { fn, ledger } = scripted([fails(denial)]);
    await expect(run(policy.execute(settings, fn))).rejects.toBe(denial);
    expect(ledger).toHaveLength(1);
  });

  it('stops at once when the caller cancels', async () => {
    const caller = new AbortController();
    const { fn, ledger } = scripted([fails(apiError(429, { 'retry-after': '60' }))]);
    const call = policy.execute(settings, fn, { signal: caller.signal }).catch((error: unknown) => error);
    await jest.advanceTimersByTimeAsync(1_000);
    caller.abort();
    expect(await call).toBeInstanceOf(CallCancelledError);
    expect(ledger).toHaveLength(1);
  });

  it('gives up with a readable reason when a retry-after would pass the call’s time budget', async () => {
    const { fn } = scripted([fails(apiError(429, { 'retry-after': '90' }))]);
    const error = (await run(policy.execute({ ...settings, totalTimeoutMs: 60_000 }, fn)).catch((caught: unknown) => caught)) as ModelCallFailedError;
    expect(error.message).toBe(
      "The model call failed: claude-sonnet-5-5 was rate limited (HTTP 429) and asked to wait 1.5 min, more than the 1 min left of the call's time budget.",
    );
    expect(error.retryable).toBe(true);
  });

  it('cuts an attempt at what is left of the call’s time budget', async () => {
    const { fn, ledger } = scripted([({ signal }) => hangUntilAborted(signal)]);
    const started = Date.now();
    const error = (await run(policy.execute({ ...settings, models: [HAIKU], attemptTimeoutMs: 60_000, totalTimeoutMs: 10_000 }, fn)).catch(
      (caught: unknown) => caught,
    )) as ModelCallFailedError;
    expect(Date.now() - started).toBe(10_000);
    expect(ledger).toHaveLength(1);
    expect(error).toBeInstanceOf(ModelCallFailedError);
    expect(error.message).toBe('The model call ran out of its 10 s time budget.');
    expect(error.retryable).toBe(true);
  });

  it('refuses a call beyond the bulkhead with a readable, retryable failure', async () => {
    const narrow = new LlmCallPolicy({ bulkhead: { maxConcurrent: 1, maxQueued: 0 }, breakers });
    const rejected = jest.fn();
    narrow.onBulkheadRejected(rejected);
    let release!: () => void;
    const busy = narrow.execute(settings, () => new Promise<string>((resolve) => (release = () => resolve('first'))));
    const error = (await narrow.execute(settings, async () => 'second').catch((caught: unknown) => caught)) as ModelCallFailedError;
    expect(error).toBeInstanceOf(ModelCallFailedError);
    expect(error).toMatchObject({ retryable: true, kind: 'bulkhead_full' });
    expect(error.message).toBe('The model call was not made: too many model calls in progress (1 running, 0 waiting); try again later.');
    expect(rejected).toHaveBeenCalledTimes(1);
    release();
    await expect(busy).resolves.toMatchObject({ value: 'first' });
  });
});
