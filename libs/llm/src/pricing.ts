import Decimal from 'decimal.js';
import { BATCH_DISCOUNT, type ModelPrice, PRICING_TABLE } from './pricing-table';

export class UnknownModelError extends Error {
  override readonly name = 'UnknownModelError';
  constructor(readonly model: string) {
    super(`model "${model}" has no price: it is refused rather than priced at 0 (add it to LLM_PRICING_OVERRIDES)`);
  }
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens?: number;
  /** The part of cacheCreationInputTokens written with a 1-hour TTL. */
  cacheCreation1hInputTokens?: number;
  cacheReadInputTokens?: number;
}

export interface Pricing {
  /** Exact match only: `claude-sonnet-5-5-x` is not `claude-sonnet-5-5`. */
  priceFor(model: string): ModelPrice;
  costOf(model: string, usage: TokenUsage, options?: { batch?: boolean }): Decimal;
  worstCaseCost(model: string, inputTokens: number, maxTokens: number): Decimal;
}

const PRICE_FIELDS = ['inputPerMTok', 'outputPerMTok', 'cacheWrite5mPerMTok', 'cacheWrite1hPerMTok', 'cacheReadPerMTok'] as const;
const MILLION = new Decimal(1_000_000);

/** The dated table, with LLM_PRICING_OVERRIDES (JSON: model → full or partial price row) on top. */
export function loadPricing(overridesJson?: string): Pricing {
  const table: Record<string, ModelPrice> = { ...PRICING_TABLE };
  if (overridesJson) {
    let overrides: unknown;
    try {
      overrides = JSON.parse(overridesJson);
    } catch {
      throw new Error('config: LLM_PRICING_OVERRIDES must be a JSON object of model → prices');
    }
    if (!overrides || typeof overrides !== 'object' || Array.isArray(overrides)) {
      throw new Error('config: LLM_PRICING_OVERRIDES must be a JSON object of model → prices');
    }
    for (const [model, row] of Object.entries(overrides as Record<string, Record<string, unknown>>)) {
      const merged = { ...table[model] } as Partial<ModelPrice>;
      for (const [field, value] of Object.entries(row ?? {})) {
        if (!(PRICE_FIELDS as readonly string[]).includes(field) || !/^\d+(\.\d+)?$/.test(String(value))) {
          throw new Error(`config: LLM_PRICING_OVERRIDES has an invalid ${model}.${field}`);
        }
        merged[field as keyof ModelPrice] = String(value);
      }
      const missing = PRICE_FIELDS.filter((field) => merged[field] === undefined);
      if (missing.length) throw new Error(`config: LLM_PRICING_OVERRIDES for new model ${model} lacks ${missing.join(', ')}`);
      table[model] = merged as ModelPrice;
    }
  }

  const priceFor = (model: string): ModelPrice => {
    const price = Object.prototype.hasOwnProperty.call(table, model) ? table[model] : undefined;
    if (!price) throw new UnknownModelError(model);
    return price;
  };

  return {
    priceFor,
    costOf(model, usage, options = {}) {
      const price = priceFor(model);
      const cacheWrite = usage.cacheCreationInputTokens ?? 0;
      const cacheWrite1h = Math.min(usage.cacheCreation1hInputTokens ?? 0, cacheWrite);
      const cost = new Decimal(usage.inputTokens)
        .times(price.inputPerMTok)
        .plus(new Decimal(usage.outputTokens).times(price.outputPerMTok))
        .plus(new Decimal(cacheWrite - cacheWrite1h).times(price.cacheWrite5mPerMTok))
        .plus(new Decimal(cacheWrite1h).times(price.cacheWrite1hPerMTok))
        .plus(new Decimal(usage.cacheReadInputTokens ?? 0).times(price.cacheReadPerMTok))
        .dividedBy(MILLION);
      return options.batch ? cost.times(BATCH_DISCOUNT) : cost;
    },
    worstCaseCost(model, inputTokens, maxTokens) {
      const price = priceFor(model);
      return new Decimal(inputTokens).times(price.inputPerMTok).plus(new Decimal(maxTokens).times(price.outputPerMTok)).dividedBy(MILLION);
    },
  };
}
