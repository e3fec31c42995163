import { CircuitBreakerRegistry, type CircuitStateChange } from './circuit-breaker-registry';
import { CircuitOpenError } from './resilience-errors';
import { apiError } from './test/fake-api-error';

const signal = new AbortController().signal;

describe(CircuitBreakerRegistry.name, () => {
  let registry: CircuitBreakerRegistry;
  let changes: CircuitStateChange[];

  beforeEach(() => {
    jest.useFakeTimers();
    registry = new CircuitBreakerRegistry({ consecutiveFailures: 3, halfOpenAfterMs: 10_000 });
    changes = [];
    registry.onStateChange((change) => changes.push(change));
  });

  afterEach(() => {
    registry.dispose();
    jest.useRealTimers();
  });

  const fail = (key: string, error = apiError(529, {}, 'overloaded_error')) =>
    registry.execute(key, () => Promise.reject(error), signal).catch((caught: unknown) => caught);
  const succeed = (key: string) => registry.execute(key, async () => 'ok', signal);

  it('opens after the threshold of consecutive failures and refuses calls without making them', async () => {
    await fail('claude-sonnet-5-5');
    await fail('claude-sonnet-5-5');
    expect(registry.state('claude-sonnet-5-5')).toBe('closed');
    await fail('claude-sonnet-5-5');
    expect(registry.state('claude-sonnet-5-5')).toBe('open');
    expect(changes).toEqual([
      expect.objectContaining({ key: 'claude-sonnet-5-5', previous: 'closed', state: 'open', kind: 'overloaded', halfOpensAt: Date.now() + 10_000 }),
    ]);

    const call = jest.fn(async () => 'never');
    const refused = await registry.execute('claude-sonnet-5-5', call, signal).catch((error: unknown) => error);
    expect(call).not.toHaveBeenCalled();
    expect(refused).toBeInstanceOf(CircuitOpenError);
    expect(refused).toMatchObject({ model: 'claude-sonnet-5-5', halfOpensAt: Date.now() + 10_000 });
  });

  it('keeps one breaker per model', async () => {
    for (let i = 0; i < 3; i++) await fail('claude-sonnet-5-5');
    await expect(succeed('claude-haiku-5-5')).resolves.toBe('ok');
    expect(registry.states()).toEqual(new Map([['claude-sonnet-5-5', 'open'], ['claude-haiku-5-5', 'closed']]));
  });

  it('announces half-open when the delay is over, without waiting for a call, and closes after a successful probe', async () => {
    for (let i = 0; i < 3; i++) await fail('m');
    await jest.advanceTimersByTimeAsync(9_999);
    expect(registry.state('m')).toBe('open');
    await jest.advanceTimersByTimeAsync(1);
    expect(registry.state('m')).toBe('half-open');
    await expect(succeed('m')).resolves.toBe('ok');
    expect(registry.state('m')).toBe('closed');
    expect(changes.map(({ previous, state }) => `${previous}→${state}`)).toEqual(['closed→open', 'open→half-open', 'half-open→closed']);
  });

  it('re-opens when the probe fails, and half-opens again after another delay', async () => {
    for (let i = 0; i < 3; i++) await fail('m');
    await jest.advanceTimersByTimeAsync(10_000);
    await fail('m');
    expect(registry.state('m')).toBe('open');
    await jest.advanceTimersByTimeAsync(10_000);
    expect(registry.state('m')).toBe('half-open');
    expect(changes.map(({ state }) => state)).toEqual(['open', 'half-open', 'open', 'half-open']);
  });

  it('counts only failures that say the endpoint is unwell', async () => {
    for (let i = 0; i < 5; i++) await fail('m', apiError(400, {}, 'invalid_request_error'));
    for (let i = 0; i < 5; i++) await fail('m', apiError(429));
    for (let i = 0; i < 5; i++) await fail('m', new Error('budget exceeded'));
    expect(registry.state('m')).toBe('closed');
    for (const error of [apiError(500), Object.assign(new Error('socket hang up'), { name: 'APIConnectionError' }), apiError(529)]) await fail('m', error);
    expect(registry.state('m')).toBe('open');
  });

  it('a success resets the consecutive count', async () => {
    await fail('m');
    await fail('m');
    await succeed('m');
    await fail('m');
    await fail('m');
    expect(registry.state('m')).toBe('closed');
  });

  it('also opens on a sampled failure rate when failures are not consecutive', async () => {
    const sampled = new CircuitBreakerRegistry({
      consecutiveFailures: 100,
      failureRate: { threshold: 0.5, windowMs: 10_000, minimumCalls: 6 },
      halfOpenAfterMs: 1_000,
    });
    try {
      // fail, ok, fail, ok, fail, fail: 4 of 6 failed within the window
      for (const outcome of [false, true, false, true, false, false]) {
        await sampled.execute('m', () => (outcome ? Promise.resolve('ok') : Promise.reject(apiError(503))), signal).catch(() => undefined);
        await jest.advanceTimersByTimeAsync(500);
      }
      expect(sampled.state('m')).toBe('open');
    } finally {
      sampled.dispose();
    }
  });

  it('does not keep the process alive or leak timers after dispose', async () => {
    for (let i = 0; i < 3; i++) await fail('m');
    expect(jest.getTimerCount()).toBe(1);
    registry.dispose();
    expect(jest.getTimerCount()).toBe(0);
  });
});
