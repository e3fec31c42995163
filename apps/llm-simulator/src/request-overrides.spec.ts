import { readDirectiveOverrides, readHeaderOverrides } from './request-overrides';

const text = (value: string) => [{ type: 'text' as const, text: value }];

describe(readHeaderOverrides.name, () => {
  it('reads the x-sim-* headers', () => {
    expect(readHeaderOverrides({})).toEqual({ fault: undefined, latencyMs: undefined, retryAfterSeconds: undefined });
    expect(readHeaderOverrides({ 'x-sim-fault': 'hang', 'x-sim-latency-ms': '250', 'x-sim-retry-after': '1.5' })).toEqual({
      fault: 'hang',
      latencyMs: 250,
      retryAfterSeconds: 1.5,
    });
  });

  it('rejects a bad value, naming the header', () => {
    expect(() => readHeaderOverrides({ 'x-sim-fault': '418' })).toThrow(/^x-sim-fault header: /);
    expect(() => readHeaderOverrides({ 'x-sim-latency-ms': 'slow' })).toThrow(/^x-sim-latency-ms header: /);
    expect(() => readHeaderOverrides({ 'x-sim-retry-after': '-1' })).toThrow(/^x-sim-retry-after header: /);
  });
});

describe(readDirectiveOverrides.name, () => {
  it('finds directives in the system prompt or any message, the first of each kind winning', () => {
    expect(
      readDirectiveOverrides({
        system: text('Be brief. [[sim:latency=20]]'),
        messages: [
          { role: 'user', content: text('Goal: x [[sim:fault=reset]] [[sim:fault=500]]') },
          { role: 'user', content: text('[[sim:latency=99]]') },
        ],
      }),
    ).toEqual({ fault: 'reset', latencyMs: 20 });
    expect(readDirectiveOverrides({ system: [], messages: [{ role: 'user', content: text('[[sim:review=reject]] only') }] })).toEqual({});
  });

  it('rejects an unknown fault kind rather than ignoring a typo', () => {
    expect(() => readDirectiveOverrides({ system: [], messages: [{ role: 'user', content: text('[[sim:fault=boom]]') }] })).toThrow(/\[\[sim:fault\]\]/);
  });
});
