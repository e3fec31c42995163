import { loadPricing } from './pricing';
import type { PromptRequest } from './prompt';
import { shouldCountPrompt } from './prompt-count-policy';

// Worked by hand: claude-sonnet-5-5 bills input at $2, a 5-minute cache write at $2.50 and
// output at $10 per MTok. A prompt of N bytes is bounded at N + 64 tokens, so with prompt
// caching on and max_tokens 2048 a count could save 2.5 × (N + 64) of a 2.5 × (N + 64) +
// 20,480 µ$ hold: more than 10 % once N + 64 > 910.2, that is from 847 bytes on.
describe(shouldCountPrompt.name, () => {
  const pricing = loadPricing();
  const request = (bytes: number, overrides: Partial<PromptRequest> = {}): PromptRequest => ({
    model: 'claude-sonnet-5-5',
    system: 'S'.repeat(100),
    prompt: 'p'.repeat(bytes - 100),
    maxTokens: 2048,
    cacheTtl: '5m',
    ...overrides,
  });

  it('under auto, counts only a prompt whose count could lower the reservation by more than 10 %', () => {
    expect(shouldCountPrompt('auto', pricing, request(846))).toBe(false);
    expect(shouldCountPrompt('auto', pricing, request(847))).toBe(true);
  });

  it('weighs the prompt at the price it may be billed at: without prompt caching, fresh input only', () => {
    // 2 × (N + 64) × 0.9 > 2,048 µ$ from N = 1,074 on.
    expect(shouldCountPrompt('auto', pricing, request(1_073, { cacheTtl: null }))).toBe(false);
    expect(shouldCountPrompt('auto', pricing, request(1_074, { cacheTtl: null }))).toBe(true);
  });

  it('counts shared context like the prompt, and a larger max_tokens makes a count matter less', () => {
    expect(shouldCountPrompt('auto', pricing, request(200, { context: 'c'.repeat(20_000) }))).toBe(true);
    expect(shouldCountPrompt('auto', pricing, request(2_000, { maxTokens: 32_000 }))).toBe(false);
  });

  it('always counts under on and never under off', () => {
    expect(shouldCountPrompt('on', pricing, request(150))).toBe(true);
    expect(shouldCountPrompt('off', pricing, request(50_000))).toBe(false);
  });

  it('does not count for an unpriced model under auto: the call is refused before anything is held', () => {
    expect(shouldCountPrompt('auto', pricing, request(50_000, { model: 'claude-unknown-1' }))).toBe(false);
  });
});
