import { CallBulkhead } from './call-bulkhead';
import { BulkheadFullError, CallCancelledError } from './resilience-errors';

function deferred<T = string>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

describe(CallBulkhead.name, () => {
  it('runs at most maxConcurrent calls, queues the next ones and refuses beyond the queue with a typed error', async () => {
    const bulkhead = new CallBulkhead({ maxConcurrent: 2, maxQueued: 1 });
    const rejected = jest.fn();
    bulkhead.onRejected(rejected);
    const signal = new AbortController().signal;
    const gates = [deferred(), deferred(), deferred()];
    let running = 0;
    let peak = 0;
    const calls = gates.map((gate) =>
      bulkhead.execute(async () => {
        peak = Math.max(peak, ++running);
        const value = await gate.promise;
        running--;
        return value;
      }, signal),
    );
    await Promise.resolve();
    expect(bulkhead.running).toBe(2);
    expect(bulkhead.queued).toBe(1);

    const refused = await bulkhead.execute(async () => 'never', signal).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(BulkheadFullError);
    expect((refused as Error).message).toBe('too many model calls in progress (2 running, 1 waiting); try again later');
    expect(rejected).toHaveBeenCalledWith({ maxConcurrent: 2, maxQueued: 1 });

    gates.forEach((gate, index) => gate.resolve(`call ${index}`));
    await expect(Promise.all(calls)).resolves.toEqual(['call 0', 'call 1', 'call 2']);
    expect(peak).toBe(2);
  });

  it('lets a queued call leave as soon as its caller aborts', async () => {
    const bulkhead = new CallBulkhead({ maxConcurrent: 1, maxQueued: 5 });
    const busy = deferred();
    const first = bulkhead.execute(() => busy.promise, new AbortController().signal);
    const caller = new AbortController();
    const queuedFn = jest.fn(async () => 'late');
    const queued = bulkhead.execute(queuedFn, caller.signal).catch((error: unknown) => error);
    caller.abort();
    expect(await queued).toBeInstanceOf(CallCancelledError);
    busy.resolve('done');
    await expect(first).resolves.toBe('done');
    await new Promise((resolve) => setImmediate(resolve));
    expect(queuedFn).not.toHaveBeenCalled();
    expect(bulkhead.queued).toBe(0);
  });

  it('refuses settings that make no sense', () => {
    expect(() => new CallBulkhead({ maxConcurrent: 0, maxQueued: 0 })).toThrow('maxConcurrent must be a positive integer, got 0');
    expect(() => new CallBulkhead({ maxConcurrent: 1, maxQueued: -1 })).toThrow('maxQueued must be a non-negative integer, got -1');
  });
});
