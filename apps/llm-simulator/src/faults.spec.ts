import { FaultQueue, FaultSchedule, chooseFault, parseScriptedFault } from './faults';

describe(FaultQueue.name, () => {
  it('consumes faults in order, each for its count, only by matching requests', () => {
    const queue = new FaultQueue();
    queue.enqueue({ fault: '500', count: 2, match: 'flaky' });
    queue.enqueue({ fault: '429', count: 1, retryAfterSeconds: 3 });
    expect(queue.pending).toBe(3);
    expect(queue.take('{"a flaky request"}')).toEqual({ kind: '500', source: 'scripted', retryAfterSeconds: undefined });
    expect(queue.take('{"another request"}')).toEqual({ kind: '429', source: 'scripted', retryAfterSeconds: 3 });
    expect(queue.take('{"another request"}')).toBeUndefined();
    expect(queue.take('{"flaky again"}')).toMatchObject({ kind: '500' });
    expect(queue.take('{"flaky again"}')).toBeUndefined();
    expect(queue.pending).toBe(0);
  });
});

describe(FaultSchedule.name, () => {
  it('spreads a rate evenly and repeatably', () => {
    const pattern = (rate: number) => {
      const schedule = new FaultSchedule(rate);
      return Array.from({ length: 8 }, () => schedule.next());
    };
    expect(pattern(1)).toEqual(Array(8).fill(true));
    expect(pattern(0)).toEqual(Array(8).fill(false));
    expect(pattern(0.5)).toEqual([false, true, false, true, false, true, false, true]);
    expect(pattern(0.25).filter(Boolean)).toHaveLength(2);
    expect(pattern(0.25)).toEqual(pattern(0.25));
  });
});

describe(chooseFault.name, () => {
  it('prefers scripted, then header, then directive, then environment', () => {
    const env = () => '500' as const;
    expect(chooseFault({ scripted: { kind: 'reset', source: 'scripted' }, header: '429', directive: 'hang', env })).toMatchObject({ kind: 'reset' });
    expect(chooseFault({ header: '429', directive: 'hang', env })).toEqual({ kind: '429', source: 'header' });
    expect(chooseFault({ directive: 'hang', env })).toEqual({ kind: 'hang', source: 'directive' });
    expect(chooseFault({ env })).toEqual({ kind: '500', source: 'env' });
    expect(chooseFault({})).toBeUndefined();
  });
});

describe(parseScriptedFault.name, () => {
  it('defaults count to 1 and names a bad field', () => {
    expect(parseScriptedFault({ fault: 'hang' })).toEqual({ fault: 'hang', count: 1, match: undefined, retryAfterSeconds: undefined });
    expect(() => parseScriptedFault({ fault: '404' })).toThrow(/^fault: /);
    expect(() => parseScriptedFault({ fault: '500', count: 0 })).toThrow(/^count: /);
    expect(() => parseScriptedFault({ fault: '500', match: 3 })).toThrow(/^match: /);
    expect(() => parseScriptedFault({ fault: '429', retryAfterSeconds: -1 })).toThrow(/^retryAfterSeconds: /);
  });
});
