import { MESSAGE_OVERHEAD_TOKENS, REQUEST_OVERHEAD_TOKENS, countInputTokens, countTextTokens, truncateToTokens } from './token-count';

describe(countTextTokens.name, () => {
  it('counts about one token per four characters, at least one per chunk', () => {
    expect(countTextTokens('')).toBe(0);
    expect(countTextTokens('a b c')).toBe(3);
    expect(countTextTokens('abcd')).toBe(1);
    expect(countTextTokens('abcde')).toBe(2);
    expect(countTextTokens('  internationalisation  ')).toBe(5);
    const prose = 'The quick brown fox jumps over the lazy dog. '.repeat(20);
    expect(countTextTokens(prose) / prose.length).toBeGreaterThan(0.2);
    expect(countTextTokens(prose) / prose.length).toBeLessThan(0.3);
  });
});

describe(countInputTokens.name, () => {
  it('adds request and per-message framing to the text', () => {
    const text = (value: string) => [{ type: 'text' as const, text: value }];
    expect(
      countInputTokens({
        system: text('You are helpful.'),
        messages: [
          { role: 'user', content: text('Hello there') },
          { role: 'assistant', content: text('Hi') },
        ],
      }),
    ).toBe(REQUEST_OVERHEAD_TOKENS + 4 + 2 * MESSAGE_OVERHEAD_TOKENS + 4 + 1);
  });
});

describe(truncateToTokens.name, () => {
  it('keeps text that fits and cuts what does not, within the budget', () => {
    expect(truncateToTokens('one two three', 4)).toEqual({ text: 'one two three', truncated: false });
    expect(truncateToTokens('one two three', 3)).toEqual({ text: 'one two thre', truncated: true });
    expect(truncateToTokens('one two three', 2)).toEqual({ text: 'one two', truncated: true });
    const cut = truncateToTokens('supercalifragilistic', 2);
    expect(cut).toEqual({ text: 'supercal', truncated: true });
    for (let budget = 1; budget < 40; budget += 3) {
      expect(countTextTokens(truncateToTokens('Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(5), budget).text)).toBeLessThanOrEqual(budget);
    }
  });
});
