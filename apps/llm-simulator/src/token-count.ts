import type { CountTokensRequest } from './request-validation';

// An approximation of Claude's tokenizer, close enough for budgets and cost tests:
// about one token per four characters, never less than one per whitespace-separated
// chunk, plus a small fixed framing cost per request and per message.

/** Framing every request pays (role markers, the assistant turn that follows). */
export const REQUEST_OVERHEAD_TOKENS = 3;
/** Framing each message pays on top of its text. */
export const MESSAGE_OVERHEAD_TOKENS = 4;

const CHARS_PER_TOKEN = 4;
const CHUNK = /\S+/g;

export function countTextTokens(text: string): number {
  let tokens = 0;
  for (const [chunk] of text.matchAll(CHUNK)) tokens += chunkTokens(chunk);
  return tokens;
}

/** What count_tokens answers; /v1/messages splits the same total into fresh and cached tokens. */
export function countInputTokens(request: Pick<CountTokensRequest, 'system' | 'messages'>): number {
  let tokens = REQUEST_OVERHEAD_TOKENS;
  for (const block of request.system) tokens += countTextTokens(block.text);
  for (const message of request.messages) {
    tokens += MESSAGE_OVERHEAD_TOKENS;
    for (const block of message.content) tokens += countTextTokens(block.text);
  }
  return tokens;
}

/**
 * The longest prefix of `text` that fits in `maxTokens`, cut at a chunk boundary when
 * possible, so that `countTextTokens(result.text) <= maxTokens`.
 */
export function truncateToTokens(text: string, maxTokens: number): { text: string; truncated: boolean } {
  let used = 0;
  for (const match of text.matchAll(CHUNK)) {
    const tokens = chunkTokens(match[0]);
    if (used + tokens > maxTokens) {
      const room = maxTokens - used;
      const end = room > 0 ? match.index + room * CHARS_PER_TOKEN : match.index;
      return { text: text.slice(0, end).trimEnd(), truncated: true };
    }
    used += tokens;
  }
  return { text, truncated: false };
}

function chunkTokens(chunk: string): number {
  return Math.max(1, Math.ceil(chunk.length / CHARS_PER_TOKEN));
}
