import { loadPricing, promptTokensWithMargin, UnknownModelError } from './pricing';
import { PRICING_AS_OF, PRICING_SOURCE, PRICING_TABLE } from './pricing-table';

// Golden figures worked by hand in micro-dollars (tokens × $/MTok), one line per model.
describe(loadPricing.name, () => {
  const pricing = loadPricing();
  const plain = { inputTokens: 1_234, outputTokens: 567 };
  const cached = { inputTokens: 100, outputTokens: 10, cacheCreationInputTokens: 3_000, cacheCreation1hInputTokens: 1_000, cacheReadInputTokens: 50_000 };

  it('keeps the table as dated data with its source', () => {
    expect(PRICING_AS_OF).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(PRICING_SOURCE).toMatch(/^https:\/\//);
    expect(pricing.models().sort()).toEqual(Object.keys(PRICING_TABLE).sort());
  });

  it.each([
    // input × in + output × out
    ['claude-opus-5-5', '0.016276'], // 1234×4 + 567×20 = 4936 + 11340
    ['claude-sonnet-5-5', '0.008138'], // 1234×2 + 567×10 = 2468 + 5670
    ['claude-haiku-5-5', '0.0004069'], // 1234×0.1 + 567×0.5 = 123.4 + 283.5
  ])('prices %s exactly', (model, expected) => {
    expect(pricing.costOf(model, plain).toFixed()).toBe(expected);
  });

  it.each([
    // in×100 + out×10 + 5m write×2000 + 1h write×1000 + read×50000
    ['claude-opus-5-5', '0.0286', '0.0143'], // 400 + 200 + 2000×5 + 1000×8 + 50000×0.2 = 400+200+10000+8000+10000
    ['claude-sonnet-5-5', '0.0143', '0.00715'], // 200 + 100 + 2000×2.5 + 1000×4 + 50000×0.1 = 200+100+5000+4000+5000
    ['claude-haiku-5-5', '0.000965', '0.0004825'], // 10 + 5 + 2000×0.125 + 1000×0.2 + 50000×0.01 = 10+5+250+200+500
  ])('prices %s cache writes (5 m, 1 h) and reads at their own rates; batch halves it', (model, expected, batch) => {
    expect(pricing.costOf(model, cached).toFixed()).toBe(expected);
    expect(pricing.costOf(model, cached, { batch: true }).toFixed()).toBe(batch);
  });

  it('bills a whole Haiku 5.5 request at long-prompt rates past 100,000 prompt tokens, cache tokens included', () => {
    // prompt = 90000 + 20000 read = 110000 > 100k: 90000×0.5 + 1000×2.5 + 20000×0.05 = 45000 + 2500 + 1000
    expect(pricing.costOf('claude-haiku-5-5', { inputTokens: 90_000, outputTokens: 1_000, cacheReadInputTokens: 20_000 }).toFixed()).toBe('0.0485');
    // exactly 100000 is still the short tier: 100000×0.1 + 1000×0.5
    expect(pricing.costOf('claude-haiku-5-5', { inputTokens: 100_000, outputTokens: 1_000 }).toFixed()).toBe('0.0105');
  });

  it('works out the worst case a reservation must hold, with a margin on the counted prompt', () => {
    // 1000 counted → 1000 × 1.02 + 64 = 1084 held
    expect(promptTokensWithMargin(1_000)).toBe(1_084);
    // haiku, no caching: 1084×0.1 + 1024×0.5 = 108.4 + 512
    expect(pricing.worstCaseCost('claude-haiku-5-5', { promptTokens: 1_000, maxTokens: 1_024 }).toFixed()).toBe('0.0006204');
    // sonnet with a 5 m cache mark: prompt at the 5 m write rate 2.5: 1084×2.5 + 2048×10 = 2710 + 20480
    expect(pricing.worstCaseCost('claude-sonnet-5-5', { promptTokens: 1_000, maxTokens: 2_048, cacheTtl: '5m' }).toFixed()).toBe('0.02319');
    // ... and a 1 h mark: the 1 h write rate 4: 1084×4 + 20480 = 4336 + 20480
    expect(pricing.worstCaseCost('claude-sonnet-5-5', { promptTokens: 1_000, maxTokens: 2_048, cacheTtl: '1h' }).toFixed()).toBe('0.024816');
    // haiku past the threshold: 153064×0.5 + 1000×2.5 (150000 × 1.02 + 64 = 153064)
    expect(pricing.worstCaseCost('claude-haiku-5-5', { promptTokens: 150_000, maxTokens: 1_000 }).toFixed()).toBe('0.079032');
    // opus in a batch: (1084×4 + 1000×20) × 0.5
    expect(pricing.worstCaseCost('claude-opus-5-5', { promptTokens: 1_000, maxTokens: 1_000 }, { batch: true }).toFixed()).toBe('0.012168');
    // an upper bound (bytes, not a count) is held as it is: 1000×0.1 + 1024×0.5
    expect(pricing.worstCaseCost('claude-haiku-5-5', { promptTokens: 1_000, maxTokens: 1_024, promptTokensAreUpperBound: true }).toFixed()).toBe('0.000612');
  });

  it('prices a prompt counted just under the long-prompt boundary at long-prompt rates, so its bill cannot exceed the hold', () => {
    // counted 99,000 → held as 99,000 × 1.02 + 64 = 101,044 > 100,000: the whole request at 5× rates
    const worst = pricing.worstCaseCost('claude-haiku-5-5', { promptTokens: 99_000, maxTokens: 1_000 });
    expect(worst.toFixed()).toBe('0.053022'); // 101044×0.5 + 1000×2.5 = 50522 + 2500
    // billed at 100,500 prompt tokens (the count was an estimate): 100500×0.5 + 1000×2.5 = 50250 + 2500
    const billed = pricing.costOf('claude-haiku-5-5', { inputTokens: 100_500, outputTokens: 1_000 });
    expect(billed.toFixed()).toBe('0.05275');
    expect(billed.lte(worst)).toBe(true);
    // Without the margin the hold would have been 99000×0.1 + 1000×0.5 = 0.0104: a fifth of the bill.
    expect(billed.greaterThan(pricing.worstCaseCost('claude-haiku-5-5', { promptTokens: 99_000, maxTokens: 1_000, promptTokensAreUpperBound: true }).times(5))).toBe(true);
    // Far enough below the boundary the short tier stays: 97,000 → 99,004 held, at 1×.
    expect(pricing.worstCaseCost('claude-haiku-5-5', { promptTokens: 97_000, maxTokens: 1_000 }).toFixed()).toBe('0.0104004'); // 99004×0.1 + 500
  });

  it('covers any bill within the margin of the count', () => {
    for (const model of pricing.models()) {
      for (const counted of [0, 1, 999, 50_000, 97_999, 98_000, 99_999, 100_000, 120_000]) {
        const billedPrompt = Math.floor(counted * 1.02) + 64;
        const worst = pricing.worstCaseCost(model, { promptTokens: counted, maxTokens: 2_000, cacheTtl: '1h' });
        const bill = pricing.costOf(model, { inputTokens: 0, outputTokens: 2_000, cacheCreationInputTokens: billedPrompt, cacheCreation1hInputTokens: billedPrompt });
        expect({ model, counted, covered: bill.lte(worst) }).toEqual({ model, counted, covered: true });
      }
    }
  });

  it('never prices an answer above its worst case, however the prompt splits between fresh, written and read tokens', () => {
    let seed = 42;
    const next = (max: number) => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed % (max + 1));
    for (const model of pricing.models()) {
      for (let i = 0; i < 200; i++) {
        const prompt = next(150_000);
        const written = next(prompt);
        const read = next(prompt - written);
        const written1h = next(written);
        const maxTokens = 1 + next(8_000);
        const usage = { inputTokens: prompt - written - read, outputTokens: next(maxTokens), cacheCreationInputTokens: written, cacheCreation1hInputTokens: written1h, cacheReadInputTokens: read };
        const worst = pricing.worstCaseCost(model, { promptTokens: prompt, maxTokens, cacheTtl: '1h' });
        expect(pricing.costOf(model, usage).lte(worst)).toBe(true);
      }
    }
  });

  it('refuses unknown models and never matches by substring or prototype keys', () => {
    for (const model of ['claude-sonnet-5-5-extra', 'claude-sonnet-5', 'sonnet', 'claude-sonnet', 'toString', '__proto__', '']) {
      expect(() => pricing.costOf(model, plain)).toThrow(UnknownModelError);
      expect(() => pricing.worstCaseCost(model, { promptTokens: 1, maxTokens: 1 })).toThrow(UnknownModelError);
    }
  });

  it('takes overrides from config and rejects bad ones naming the variable', () => {
    const custom = loadPricing(
      JSON.stringify({
        'claude-sonnet-5-5': { outputPerMTok: '12' },
        'claude-haiku-5-5': { longPrompt: null },
        'claude-x-1': { inputPerMTok: 1, outputPerMTok: 2, cacheWrite5mPerMTok: 1.25, cacheWrite1hPerMTok: 2, cacheReadPerMTok: 0.1 },
      }),
    );
    expect(custom.costOf('claude-sonnet-5-5', { inputTokens: 0, outputTokens: 1_000_000 }).toFixed()).toBe('12');
    expect(custom.costOf('claude-haiku-5-5', { inputTokens: 200_000, outputTokens: 0 }).toFixed()).toBe('0.02');
    expect(custom.costOf('claude-x-1', { inputTokens: 1_000_000, outputTokens: 0 }).toFixed()).toBe('1');
    expect(() => loadPricing('{oops')).toThrow(/LLM_PRICING_OVERRIDES/);
    expect(() => loadPricing('[]')).toThrow(/LLM_PRICING_OVERRIDES/);
    expect(() => loadPricing(JSON.stringify({ 'claude-x': { inputPerMTok: '1' } }))).toThrow(/claude-x lacks/);
    expect(() => loadPricing(JSON.stringify({ 'claude-sonnet-5-5': { inputPerMTok: '-1' } }))).toThrow(/LLM_PRICING_OVERRIDES has an invalid claude-sonnet-5-5.inputPerMTok/);
    expect(() => loadPricing(JSON.stringify({ 'claude-sonnet-5-5': { inputPrice: '1' } }))).toThrow(/LLM_PRICING_OVERRIDES/);
  });
});
