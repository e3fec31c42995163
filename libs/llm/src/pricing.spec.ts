import { loadPricing, UnknownModelError } from './pricing';

describe(loadPricing.name, () => {
  const pricing = loadPricing();
  const usage = { inputTokens: 1_234, outputTokens: 567 };

  it.each([
    // input × price/M + output × price/M, exact decimals worked by hand
    ['claude-opus-5-5', '0.016276'], // 1234×4 + 567×20 = 4936 + 11340 = 16276 µ$
    ['claude-sonnet-5-5', '0.008138'], // 1234×2 + 567×10 = 2468 + 5670
    ['claude-haiku-5-5', '0.0004069'], // 1234×0.1 + 567×0.5 = 123.4 + 283.5
  ])('prices %s exactly', (model, expected) => {
    expect(pricing.costOf(model, usage).toFixed()).toBe(expected);
  });

  it('prices cache writes (5 m and 1 h) and reads at their own rates, and applies the batch discount', () => {
    const cached = { inputTokens: 100, outputTokens: 10, cacheCreationInputTokens: 3_000, cacheCreation1hInputTokens: 1_000, cacheReadInputTokens: 50_000 };
    // sonnet: 100×2 + 10×10 + 2000×2.5 + 1000×4 + 50000×0.2 = 200 + 100 + 5000 + 4000 + 10000 = 19300 µ$
    expect(pricing.costOf('claude-sonnet-5-5', cached).toFixed()).toBe('0.0193');
    expect(pricing.costOf('claude-sonnet-5-5', cached, { batch: true }).toFixed()).toBe('0.00965');
    expect(pricing.worstCaseCost('claude-haiku-5-5', 1_000, 1_024).toFixed()).toBe('0.000612');
  });

  it('refuses unknown models and never matches by substring', () => {
    for (const model of ['claude-sonnet-5-5-extra', 'sonnet', 'claude-sonnet', 'toString', '__proto__']) {
      expect(() => pricing.costOf(model, usage)).toThrow(UnknownModelError);
    }
  });

  it('takes overrides from config and rejects bad ones naming the variable', () => {
    const custom = loadPricing(JSON.stringify({ 'claude-sonnet-5-5': { outputPerMTok: '12' } }));
    expect(custom.costOf('claude-sonnet-5-5', { inputTokens: 0, outputTokens: 1_000_000 }).toFixed()).toBe('12');
    expect(() => loadPricing('{oops')).toThrow(/LLM_PRICING_OVERRIDES/);
    expect(() => loadPricing(JSON.stringify({ 'claude-x': { inputPerMTok: '1' } }))).toThrow(/lacks/);
    expect(() => loadPricing(JSON.stringify({ 'claude-sonnet-5-5': { inputPerMTok: '-1' } }))).toThrow(/invalid/);
  });
});
