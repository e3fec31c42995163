import { CircuitBreakerRegistry } from './circuit-breaker-registry';
import { CircuitGate, type GateChange } from './circuit-gate';
import { apiError } from './test/fake-api-error';

const signal = new AbortController().signal;

describe(CircuitGate.name, () => {
  let registry: CircuitBreakerRegistry;
  let consumer: { pause: jest.Mock; resume: jest.Mock };

  beforeEach(() => {
    jest.useFakeTimers();
    registry = new CircuitBreakerRegistry({ consecutiveFailures: 1, halfOpenAfterMs: 5_000 });
    consumer = { pause: jest.fn(), resume: jest.fn() };
  });

  afterEach(() => {
    registry.dispose();
    jest.useRealTimers();
  });

  const breakModel = (model: string) => registry.execute(model, () => Promise.reject(apiError(500)), signal).catch(() => undefined);

  it('pauses while every model of every chain is open and resumes at half-open', async () => {
    const gate = new CircuitGate(registry, [['claude-sonnet-5-5', 'claude-haiku-5-5'], ['claude-haiku-5-5']], consumer);
    const changes: GateChange[] = [];
    gate.onChange((change) => changes.push(change));

    await breakModel('claude-haiku-5-5');
    // investigate steps can still run on sonnet: keep pulling
    expect(consumer.pause).not.toHaveBeenCalled();
    await breakModel('claude-sonnet-5-5');
    expect(consumer.pause).toHaveBeenCalledTimes(1);
    expect(gate.paused).toBe(true);

    await jest.advanceTimersByTimeAsync(5_000);
    expect(consumer.resume).toHaveBeenCalledTimes(1);
    expect(gate.paused).toBe(false);
    expect(changes).toEqual([
      { paused: true, openModels: ['claude-sonnet-5-5', 'claude-haiku-5-5'] },
      // haiku broke first, so it half-opens first; sonnet is still open
      { paused: false, openModels: ['claude-sonnet-5-5'] },
    ]);
    gate.dispose();
  });

  it('ignores breakers of models its chains do not use, and stops listening on dispose', async () => {
    const gate = new CircuitGate(registry, [['claude-haiku-5-5']], consumer);
    await breakModel('claude-opus-5-5');
    expect(consumer.pause).not.toHaveBeenCalled();
    gate.dispose();
    await breakModel('claude-haiku-5-5');
    expect(consumer.pause).not.toHaveBeenCalled();
  });

  it('starts paused when the breakers are already open', async () => {
    await breakModel('claude-haiku-5-5');
    const gate = new CircuitGate(registry, [['claude-haiku-5-5']], consumer);
    expect(gate.paused).toBe(true);
    expect(consumer.pause).toHaveBeenCalledTimes(1);
    gate.dispose();
  });
});
