import Decimal from 'decimal.js';
import { z } from 'zod';
import { parseJsonConfig } from './json-config';
import { BATCH_DISCOUNT, type ModelPrice, PRICING_TABLE, type TokenRates } from './pricing-table';

export class UnknownModelError extends Error {
  override readonly name = 'UnknownModelError';
  constructor(readonly model: string) {
    super(`model "${model}" has no price: it is refused rather than priced at 0 (add it to LLM_PRICING_OVERRIDES)`);
  }
}

export type PromptCacheTtl = '5m' | '1h';

export interface TokenUsage {
  /** Prompt tokens neither written to nor read from the prompt cache. */
  inputTokens: number;
  outputTokens: number;
  /** Prompt tokens written to the cache, whatever their TTL. */
  cacheCreationInputTokens?: number;
  /** The part of cacheCreationInputTokens written with a 1-hour TTL. */
  cacheCreation1hInputTokens?: number;
  cacheReadInputTokens?: number;
}

export interface WorstCaseRequest {
  /** Every prompt token (fresh, cache-written and cache-read), as count_tokens counted them (or over-estimated: see promptTokensAreUpperBound). */
  promptTokens: number;
  /** The figure is already a safe upper bound (promptTokensUpperBound), not a count: no margin is added to it. */
  promptTokensAreUpperBound?: boolean;
  maxTokens: number;
  /** Set when the request marks blocks with cache_control: any prompt token may then be billed as a cache write. */
  cacheTtl?: PromptCacheTtl | null;
}

export interface Pricing {
  /** Exact match only: `claude-sonnet-5-5-x` is not `claude-sonnet-5-5`. */
  priceFor(model: string): ModelPrice;
  costOf(model: string, usage: TokenUsage, options?: { batch?: boolean }): Decimal;
  /** The most a request can cost: what a reservation must hold before the call (a counted prompt gets COUNTED_PROMPT_MARGIN). */
  worstCaseCost(model: string, request: WorstCaseRequest, options?: { batch?: boolean }): Decimal;
  models(): string[];
}

const MILLION = new Decimal(1_000_000);

/**
 * Anthropic documents count_tokens as an estimate that may differ slightly from what a
 * request is billed, so a reservation never trusts the count to the token: it holds for
 * the count plus 2 % plus 64 tokens (the framing a count may leave out), and prices the
 * whole request at long-prompt rates as soon as that padded figure crosses a tier
 * boundary. A prompt counted at 99,000 tokens is reserved as 101,044 (over Haiku 5.5's
 * 100,000 boundary, so at 5× rates), which covers being billed at 100,500.
 */
export const COUNTED_PROMPT_MARGIN = { percent: 2, tokens: 64 } as const;

/** The prompt tokens a reservation holds for a counted prompt (see COUNTED_PROMPT_MARGIN). */
export function promptTokensWithMargin(counted: number): number {
  return Math.ceil((counted * (100 + COUNTED_PROMPT_MARGIN.percent)) / 100) + COUNTED_PROMPT_MARGIN.tokens;
}
const RATE_FIELDS = ['inputPerMTok', 'outputPerMTok', 'cacheWrite5mPerMTok', 'cacheWrite1hPerMTok', 'cacheReadPerMTok'] as const;

const Rate = z
  .union([z.string(), z.number()])
  .transform(String)
  .pipe(z.string().regex(/^\d{1,6}(\.\d{1,9})?$/, 'must be a non-negative decimal'));
const RatesOverride = z.object({
  inputPerMTok: Rate.optional(),
  outputPerMTok: Rate.optional(),
  cacheWrite5mPerMTok: Rate.optional(),
  cacheWrite1hPerMTok: Rate.optional(),
  cacheReadPerMTok: Rate.optional(),
});
const LongPromptOverride = RatesOverride.required().extend({ thresholdTokens: z.number().int().positive() }).strict();
/** A row may be partial for a priced model; `longPrompt: null` removes a tier. */
const RowOverride = RatesOverride.extend({ longPrompt: LongPromptOverride.nullable().optional() }).strict();
const Overrides = z.record(z.string().regex(/^[a-z0-9][a-z0-9.-]{0,99}$/, 'model ids are lowercase letters, digits, dots and dashes'), RowOverride);

/** The dated table, with LLM_PRICING_OVERRIDES (JSON: model → full or partial price row) on top. */
export function loadPricing(overridesJson?: string): Pricing {
  const table = new Map<string, ModelPrice>(Object.entries(PRICING_TABLE));
  if (overridesJson) {
    for (const [model, row] of Object.entries(parseJsonConfig('LLM_PRICING_OVERRIDES', overridesJson, Overrides, 'model → prices'))) {
      const { longPrompt, ...rates } = row;
      const merged: Partial<ModelPrice> = { ...table.get(model) };
      for (const field of RATE_FIELDS) if (rates[field] !== undefined) merged[field] = rates[field];
      if (longPrompt === null) delete merged.longPrompt;
      else if (longPrompt) merged.longPrompt = longPrompt;
      const missing = RATE_FIELDS.filter((field) => merged[field] === undefined);
      if (missing.length) throw new Error(`config: LLM_PRICING_OVERRIDES for new model ${model} lacks ${missing.join(', ')}`);
      table.set(model, merged as ModelPrice);
    }
  }

  const priceFor = (model: string): ModelPrice => {
    const price = table.get(model);
    if (!price) throw new UnknownModelError(model);
    return price;
  };
  const ratesFor = (price: ModelPrice, promptTokens: number): TokenRates =>
    price.longPrompt && promptTokens > price.longPrompt.thresholdTokens ? price.longPrompt : price;
  const discounted = (cost: Decimal, batch?: boolean) => (batch ? cost.times(BATCH_DISCOUNT) : cost);

  return {
    priceFor,
    models: () => [...table.keys()],
    costOf(model, usage, options = {}) {
      const price = priceFor(model);
      const cacheWrite = usage.cacheCreationInputTokens ?? 0;
      const cacheWrite1h = Math.min(usage.cacheCreation1hInputTokens ?? 0, cacheWrite);
      const cacheRead = usage.cacheReadInputTokens ?? 0;
      const rates = ratesFor(price, usage.inputTokens + cacheWrite + cacheRead);
      const cost = new Decimal(usage.inputTokens)
        .times(rates.inputPerMTok)
        .plus(new Decimal(usage.outputTokens).times(rates.outputPerMTok))
        .plus(new Decimal(cacheWrite - cacheWrite1h).times(rates.cacheWrite5mPerMTok))
        .plus(new Decimal(cacheWrite1h).times(rates.cacheWrite1hPerMTok))
        .plus(new Decimal(cacheRead).times(rates.cacheReadPerMTok))
        .dividedBy(MILLION);
      return discounted(cost, options.batch);
    },
    worstCaseCost(model, request, options = {}) {
      const promptTokens = request.promptTokensAreUpperBound ? request.promptTokens : promptTokensWithMargin(request.promptTokens);
      const rates = ratesFor(priceFor(model), promptTokens);
      // With cache_control any prompt token may be billed as a cache write at the mark's
      // TTL, which costs more than fresh input; reads always cost less.
      const promptRates = [rates.inputPerMTok];
      if (request.cacheTtl) promptRates.push(rates.cacheWrite5mPerMTok);
      if (request.cacheTtl === '1h') promptRates.push(rates.cacheWrite1hPerMTok);
      const promptRate = Decimal.max(...promptRates);
      const cost = promptRate
        .times(promptTokens)
        .plus(new Decimal(request.maxTokens).times(rates.outputPerMTok))
        .dividedBy(MILLION);
      return discounted(cost, options.batch);
    },
  };
}
