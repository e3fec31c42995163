import type Anthropic from '@anthropic-ai/sdk';
import type { PromptCacheTtl } from './pricing';

/** One model request as Atelier makes them: a system prompt, optional shared context, the step's prompt. */
export interface PromptRequest {
  model: string;
  system: string;
  /**
   * Context several calls share (a task's findings, a document under review): sent as
   * its own first block of the user turn so it can be cached apart from the prompt.
   */
  context?: string;
  prompt: string;
  maxTokens: number;
  /** Prompt caching: mark the system prompt and the shared context with cache_control at this TTL. */
  cacheTtl?: PromptCacheTtl | null;
}

type CountParams = Anthropic.MessageCountTokensParams;

/**
 * The Messages API body for a request, shared by count_tokens and create so the count
 * is of exactly what is sent. System goes as text blocks: only blocks can carry
 * cache_control, and the cached prefix (system, then context) stays stable across calls.
 */
export function toMessageParams(request: PromptRequest): Pick<CountParams, 'model' | 'system' | 'messages'> {
  const cacheControl = request.cacheTtl ? { cache_control: { type: 'ephemeral' as const, ttl: request.cacheTtl } } : {};
  const userBlocks: Anthropic.TextBlockParam[] = [];
  if (request.context) userBlocks.push({ type: 'text', text: request.context, ...cacheControl });
  userBlocks.push({ type: 'text', text: request.prompt });
  return {
    model: request.model,
    system: [{ type: 'text', text: request.system, ...cacheControl }],
    messages: [{ role: 'user', content: userBlocks }],
  };
}

/** Tokens the framing of one request can add on top of its text (role markers, block boundaries), generously. */
const FRAMING_ALLOWANCE_TOKENS = 64;

/**
 * A safe upper bound on a request's prompt tokens when count_tokens cannot answer. Claude's
 * tokenizer, like every byte-level BPE tokenizer, never makes more tokens than the UTF-8
 * bytes of the text (each token stands for at least one byte; unknown characters fall
 * back to single bytes), so bytes plus a generous framing allowance cannot under-reserve.
 * It over-reserves about 4× for English text, which only makes a tight cap deny earlier.
 */
export function promptTokensUpperBound(request: Pick<PromptRequest, 'system' | 'context' | 'prompt'>): number {
  const bytes = [request.system, request.context ?? '', request.prompt].reduce((sum, text) => sum + Buffer.byteLength(text, 'utf8'), 0);
  return bytes + FRAMING_ALLOWANCE_TOKENS;
}
