// Model prices in USD per million tokens, as dated data. Source: Anthropic's pricing as
// recorded in shared/STACK-NOTES.md (published Oct 2026, prompts ≤ 100k tokens). Cache
// rates follow Anthropic's published multipliers of the input price: 5-minute cache
// write 1.25×, 1-hour cache write 2×, cache read 0.1×. Message Batches are 50 % off.
// Re-check before relying on them; LLM_PRICING_OVERRIDES replaces any row at run time.

export const PRICING_AS_OF = '2026-10-21';

export interface ModelPrice {
  inputPerMTok: string;
  outputPerMTok: string;
  cacheWrite5mPerMTok: string;
  cacheWrite1hPerMTok: string;
  cacheReadPerMTok: string;
}

export const BATCH_DISCOUNT = '0.5';

export const PRICING_TABLE: Readonly<Record<string, ModelPrice>> = {
  'claude-opus-5-5': { inputPerMTok: '4', outputPerMTok: '20', cacheWrite5mPerMTok: '5', cacheWrite1hPerMTok: '8', cacheReadPerMTok: '0.4' },
  'claude-sonnet-5-5': { inputPerMTok: '2', outputPerMTok: '10', cacheWrite5mPerMTok: '2.5', cacheWrite1hPerMTok: '4', cacheReadPerMTok: '0.2' },
  'claude-haiku-5-5': { inputPerMTok: '0.1', outputPerMTok: '0.5', cacheWrite5mPerMTok: '0.125', cacheWrite1hPerMTok: '0.2', cacheReadPerMTok: '0.01' },
};
