import { PromptCache } from './prompt-cache';
import type { CacheTtl, CountTokensRequest } from './request-validation';
import { REQUEST_OVERHEAD_TOKENS, countInputTokens } from './token-count';

const LONG_SYSTEM = 'You are a research analyst. Follow the house style guide closely. '.repeat(10);

function request(question: string, ttl?: CacheTtl): CountTokensRequest {
  return {
    model: 'claude-sonnet-5-5',
    system: [{ type: 'text', text: LONG_SYSTEM, cacheTtl: ttl ?? '5m' }],
    messages: [{ role: 'user', content: [{ type: 'text', text: question }] }],
  };
}

describe(PromptCache.name, () => {
  let clock = 0;
  let cache: PromptCache;
  beforeEach(() => {
    clock = 1_000_000;
    cache = new PromptCache(() => clock);
  });

  it('writes a marked prefix on first sight and reads it afterwards, whatever follows', () => {
    const first = cache.apply(request('first question'));
    expect(first.creationTokens).toBeGreaterThan(0);
    expect(first).toEqual({ creationTokens: first.creationTokens, readTokens: 0, creation5mTokens: first.creationTokens, creation1hTokens: 0 });
    expect(cache.apply(request('a different question'))).toEqual({ creationTokens: 0, readTokens: first.creationTokens, creation5mTokens: 0, creation1hTokens: 0 });
  });

  it('caches nothing without cache_control', () => {
    const plain: CountTokensRequest = { ...request('q'), system: [{ type: 'text', text: LONG_SYSTEM }] };
    expect(cache.apply(plain)).toEqual({ creationTokens: 0, readTokens: 0, creation5mTokens: 0, creation1hTokens: 0 });
    expect(cache.apply(plain).readTokens).toBe(0);
  });

  it('expires 5 minutes after the last use by default', () => {
    cache.apply(request('q'));
    clock += 4 * 60_000;
    expect(cache.apply(request('q')).readTokens).toBeGreaterThan(0);
    clock += 4 * 60_000;
    expect(cache.apply(request('q')).readTokens).toBeGreaterThan(0);
    clock += 6 * 60_000;
    expect(cache.apply(request('q')).readTokens).toBe(0);
  });

  it('keeps a 1-hour entry for an hour', () => {
    expect(cache.apply(request('q', '1h')).creation1hTokens).toBeGreaterThan(0);
    clock += 59 * 60_000;
    expect(cache.apply(request('q', '1h')).readTokens).toBeGreaterThan(0);
    clock += 61 * 60_000;
    expect(cache.apply(request('q', '1h')).readTokens).toBe(0);
  });

  it('keys the prefix on the model and the exact text', () => {
    cache.apply(request('q'));
    expect(cache.apply({ ...request('q'), model: 'claude-haiku-5-5' }).readTokens).toBe(0);
    expect(cache.apply({ ...request('q'), system: [{ type: 'text', text: `${LONG_SYSTEM}!`, cacheTtl: '5m' }] }).readTokens).toBe(0);
  });

  it('reads the longest cached prefix and writes only the rest', () => {
    const twoMarks: CountTokensRequest = {
      ...request('q'),
      messages: [{ role: 'user', content: [{ type: 'text', text: 'A long shared document. '.repeat(20), cacheTtl: '5m' }, { type: 'text', text: 'q' }] }],
    };
    const systemOnly = cache.apply(request('q'));
    const both = cache.apply(twoMarks);
    expect(both.readTokens).toBe(systemOnly.creationTokens);
    expect(both.creationTokens).toBeGreaterThan(0);
    // The whole marked prefix is everything but the per-request framing and the unmarked tail.
    expect(both.readTokens + both.creationTokens).toBe(countInputTokens(twoMarks) - REQUEST_OVERHEAD_TOKENS - 1);
    expect(cache.apply(twoMarks)).toMatchObject({ readTokens: both.readTokens + both.creationTokens, creationTokens: 0 });
  });

  it('forgets everything on clear()', () => {
    cache.apply(request('q'));
    cache.clear();
    expect(cache.apply(request('q')).readTokens).toBe(0);
  });
});
