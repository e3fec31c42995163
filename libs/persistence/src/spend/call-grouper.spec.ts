import { CallGrouper } from './call-grouper';

describe(CallGrouper.name, () => {
  it('runs a lone call at once and groups the calls that arrive while groups are in flight', async () => {
    const groups: number[][] = [];
    const gates: (() => void)[] = [];
    const grouper = new CallGrouper<number, number>(
      async (inputs) => {
        groups.push(inputs);
        await new Promise<void>((resolve) => gates.push(resolve));
        return inputs.map((n) => ({ status: 'fulfilled' as const, value: n * 10 }));
      },
      { maxInFlight: 1, maxGroup: 3 },
    );
    const results = [1, 2, 3, 4, 5, 6].map((n) => grouper.submit(n));
    expect(groups).toEqual([[1]]);
    gates.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
    expect(groups).toEqual([[1], [2, 3, 4]]);
    gates.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
    gates.shift()?.();
    expect(await Promise.all(results)).toEqual([10, 20, 30, 40, 50, 60]);
    expect(groups).toEqual([[1], [2, 3, 4], [5, 6]]);
  });

  it('fails only the call the group answered with an error', async () => {
    const grouper = new CallGrouper<number, number>(
      async (inputs) => inputs.map((n) => (n === 2 ? { status: 'rejected' as const, reason: new Error('bad 2') } : { status: 'fulfilled' as const, value: n })),
      { maxInFlight: 1, maxGroup: 10 },
    );
    const [one, two, three] = [grouper.submit(1), grouper.submit(2), grouper.submit(3)];
    expect(await one).toBe(1);
    await expect(two).rejects.toThrow('bad 2');
    expect(await three).toBe(3);
  });

  it('rejects every call of a group whose execution threw and carries on with the next', async () => {
    const grouper = new CallGrouper<number, number>(async (inputs) => {
      if (inputs.includes(2)) throw new Error('boom');
      return inputs.map((n) => ({ status: 'fulfilled' as const, value: n }));
    }, { maxInFlight: 1, maxGroup: 10 });
    const [one, two, three] = [grouper.submit(1), grouper.submit(2), grouper.submit(3)];
    expect(await one).toBe(1);
    await expect(two).rejects.toThrow('boom');
    await expect(three).rejects.toThrow('boom');
    expect(await grouper.submit(4)).toBe(4);
  });
});
