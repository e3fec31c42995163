import { DEFAULT_ROUTES, loadModelRoutes } from './model-routing';
import { loadPricing } from './pricing';
import { responseCacheKey } from './response-cache-key';

describe(loadModelRoutes.name, () => {
  const pricing = loadPricing();

  it('routes planning and review to the cheap model and writing to a stronger one by default', () => {
    const routes = loadModelRoutes(pricing);
    expect(routes('research.plan')).toEqual({ model: 'claude-haiku-5-5', maxTokens: 1024 });
    expect(routes('writer.review').model).toBe('claude-haiku-5-5');
    expect(routes('writer.draft')).toEqual({ model: 'claude-sonnet-5-5', maxTokens: 4096 });
    const price = (model: string) => Number(pricing.priceFor(model).outputPerMTok);
    expect(price(DEFAULT_ROUTES['research.plan'].model)).toBeLessThan(price(DEFAULT_ROUTES['writer.draft'].model));
  });

  it('takes per-kind overrides from LLM_ROUTES and rejects bad ones naming the variable', () => {
    const routes = loadModelRoutes(pricing, JSON.stringify({ 'writer.draft': { model: 'claude-opus-5-5' }, 'research.investigate': { maxTokens: 300 } }));
    expect(routes('writer.draft')).toEqual({ model: 'claude-opus-5-5', maxTokens: 4096 });
    expect(routes('research.investigate')).toEqual({ model: 'claude-sonnet-5-5', maxTokens: 300 });
    expect(() => loadModelRoutes(pricing, '{nope')).toThrow(/^config: LLM_ROUTES/);
    expect(() => loadModelRoutes(pricing, JSON.stringify({ 'writer.poem': { maxTokens: 5 } }))).toThrow(/LLM_ROUTES has an invalid/);
    expect(() => loadModelRoutes(pricing, JSON.stringify({ 'writer.draft': { maxTokens: 0 } }))).toThrow(/LLM_ROUTES has an invalid writer.draft.maxTokens/);
    expect(() => loadModelRoutes(pricing, JSON.stringify({ 'writer.draft': { model: 'claude-sonnet' } }))).toThrow(/claude-sonnet, which has no price/);
  });
});

describe(responseCacheKey.name, () => {
  const request = { model: 'claude-haiku-5-5', system: 's', context: 'c', prompt: 'p', maxTokens: 10 };

  it('is the same for the same tenant and request, and differs when anything that shapes the answer differs', () => {
    const key = responseCacheKey('tenant-a', request);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(responseCacheKey('tenant-a', { ...request, cacheTtl: '1h' })).toBe(key);
    for (const other of [
      responseCacheKey('tenant-b', request),
      responseCacheKey('tenant-a', { ...request, model: 'claude-sonnet-5-5' }),
      responseCacheKey('tenant-a', { ...request, system: 's2' }),
      responseCacheKey('tenant-a', { ...request, context: undefined }),
      responseCacheKey('tenant-a', { ...request, prompt: 'p2' }),
      responseCacheKey('tenant-a', { ...request, maxTokens: 11 }),
    ]) {
      expect(other).not.toBe(key);
    }
  });
});
