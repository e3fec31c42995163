import { CallGrouper, eachKeyOncePerStatement, groupOrEachAlone } from './call-grouper';

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

describe(groupOrEachAlone.name, () => {
  it('runs one statement for the group, and after a failure one per call, so only the call that fails alone fails', async () => {
    const statements: number[][] = [];
    const statement = async (inputs: number[]) => {
      statements.push(inputs);
      if (inputs.includes(2)) throw new Error('2 is bad');
      return inputs.map((n) => n * 10);
    };
    expect(await groupOrEachAlone([1, 3], statement)).toEqual([{ status: 'fulfilled', value: 10 }, { status: 'fulfilled', value: 30 }]);
    const outcomes = await groupOrEachAlone([1, 2, 3], statement);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(statements).toEqual([[1, 3], [1, 2, 3], [1], [2], [3]]);
  });

  it('fails the whole group at once when the database is unreachable', async () => {
    const statements: number[][] = [];
    const unreachable = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const outcomes = await groupOrEachAlone([1, 2, 3], async (inputs: number[]) => {
      statements.push(inputs);
      throw unreachable;
    });
    expect(outcomes).toEqual([1, 2, 3].map(() => ({ status: 'rejected', reason: unreachable })));
    expect(statements).toEqual([[1, 2, 3]]);
  });
});

describe(eachKeyOncePerStatement.name, () => {
  it('puts each key in a statement once, a repeat in the next, and answers every call in its place', async () => {
    const statements: string[][] = [];
    const outcomes = await eachKeyOncePerStatement(['a1', 'b1', 'a2', 'c1', 'a3', 'b2'], (input) => input.charAt(0), async (inputs) => {
      statements.push(inputs);
      return inputs.map((input) => input.toUpperCase());
    });
    expect(statements).toEqual([['a1', 'b1', 'c1'], ['a2', 'b2'], ['a3']]);
    expect(outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : 'failed'))).toEqual(['A1', 'B1', 'A2', 'C1', 'A3', 'B2']);
  });
});
