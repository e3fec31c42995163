// Model prices in USD per million tokens, as dated data: the one place prices live.
//
// Source: Anthropic's pricing page, https://platform.claude.com/docs/en/about-claude/pricing
// ("Model pricing", "Batch processing", "Prompt caching", and Haiku 5.5's prompt-length
// tiers), as read on PRICING_AS_OF through published copies of the page (this machine has
// no direct web access), reconciled with shared/STACK-NOTES.md (Oct 2026: opus 4/20,
// sonnet 2/10, haiku 0.10/0.50 for prompts ≤ 100k tokens, 5× above). Differences from the
// first version of this table, both from the page:
//  - cache reads of Opus 5.5 and Sonnet 5.5 are 0.05× the input price (Sonnet 5.5's was
//    cut from $0.20 to $0.10 on 2026-10-07), not the 0.1× older models have;
//  - Haiku 5.5 bills a whole request (every token, output included) at its long-prompt
//    rates when the prompt (input + cache writes + cache reads) exceeds 100,000 tokens.
// Cache writes are 1.25× (5-minute TTL) and 2× (1-hour TTL) the input price; Message
// Batches are 50 % off every rate. LLM_PRICING_OVERRIDES replaces any row at run time.

export const PRICING_AS_OF = '2026-10-24';
export const PRICING_SOURCE = 'https://platform.claude.com/docs/en/about-claude/pricing';

export interface TokenRates {
  inputPerMTok: string;
  outputPerMTok: string;
  cacheWrite5mPerMTok: string;
  cacheWrite1hPerMTok: string;
  cacheReadPerMTok: string;
}

export interface ModelPrice extends TokenRates {
  /** Rates for a whole request whose prompt exceeds `thresholdTokens` (Haiku 5.5). */
  longPrompt?: TokenRates & { thresholdTokens: number };
}

/** Message Batches: every rate × this factor. */
export const BATCH_DISCOUNT = '0.5';

export const PRICING_TABLE: Readonly<Record<string, ModelPrice>> = {
  'claude-opus-5-5': { inputPerMTok: '4', outputPerMTok: '20', cacheWrite5mPerMTok: '5', cacheWrite1hPerMTok: '8', cacheReadPerMTok: '0.2' },
  'claude-sonnet-5-5': { inputPerMTok: '2', outputPerMTok: '10', cacheWrite5mPerMTok: '2.5', cacheWrite1hPerMTok: '4', cacheReadPerMTok: '0.1' },
  'claude-haiku-5-5': {
    inputPerMTok: '0.1',
    outputPerMTok: '0.5',
    cacheWrite5mPerMTok: '0.125',
    cacheWrite1hPerMTok: '0.2',
    cacheReadPerMTok: '0.01',
    longPrompt: {
      thresholdTokens: 100_000,
      inputPerMTok: '0.5',
      outputPerMTok: '2.5',
      cacheWrite5mPerMTok: '0.625',
      cacheWrite1hPerMTok: '1',
      cacheReadPerMTok: '0.05',
    },
  },
};
