import Decimal from 'decimal.js';
import type { Pricing } from './pricing';
import { promptTokensUpperBound, type PromptRequest } from './prompt';

/**
 * When a model call counts its prompt with count_tokens before reserving: `on` always,
 * `off` never (the reservation holds the byte-based bound), `auto` only when counting
 * could lower the reservation by more than AUTO_COUNT_MIN_SAVING of it.
 */
export const PROMPT_COUNT_MODES = ['on', 'off', 'auto'] as const;
export type PromptCountMode = (typeof PROMPT_COUNT_MODES)[number];

/**
 * Under `auto`, a count is worth its round trip (and its share of count_tokens' own rate
 * limit) only if it could lower the reservation by more than this fraction. A short
 * prompt with a large max_tokens is mostly output: its byte-based bound holds a few
 * percent more than a count would, and skipping the count saves a round trip to the
 * provider before every such call.
 */
const AUTO_COUNT_MIN_SAVING = new Decimal('0.1');

/**
 * Whether to count `request`'s prompt. Counting can lower a reservation at most to what
 * the same request holds for an empty prompt, so under `auto` the difference between
 * that and the hold on the byte-based bound decides (at the model's rates, tiers and
 * cache-write prices included). An unpriced model is refused before anything is
 * reserved, so it is not counted under `auto` either.
 */
export function shouldCountPrompt(mode: PromptCountMode, pricing: Pricing, request: PromptRequest): boolean {
  if (mode !== 'auto') return mode === 'on';
  if (!pricing.models().includes(request.model)) return false;
  const bound = { promptTokens: promptTokensUpperBound(request), promptTokensAreUpperBound: true, maxTokens: request.maxTokens, cacheTtl: request.cacheTtl ?? null };
  const onBound = pricing.worstCaseCost(request.model, bound);
  const withEmptyPrompt = pricing.worstCaseCost(request.model, { ...bound, promptTokens: 0 });
  return onBound.minus(withEmptyPrompt).greaterThan(onBound.times(AUTO_COUNT_MIN_SAVING));
}
