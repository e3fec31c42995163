import Anthropic from '@anthropic-ai/sdk';
import { classifyLlmError, type LlmErrorClassification } from '@atelier/resilience';
import type Decimal from 'decimal.js';
import type { Pricing, TokenUsage } from './pricing';
import { type PromptRequest, toMessageParams } from './prompt';

export interface GatewayOptions {
  apiKey: string;
  baseURL?: string;
  timeoutMs: number;
  pricing: Pricing;
  /** The HTTP client under the SDK (default: the built-in fetch); see createKeepAliveFetch. */
  fetch?: typeof fetch;
}

export interface CompletionRequest extends PromptRequest {
  signal?: AbortSignal;
}

export interface Completion {
  text: string;
  model: string;
  stopReason: string | null;
  usage: Required<TokenUsage>;
  requestId: string | undefined;
  latencyMs: number;
  costUsd: Decimal;
}

/**
 * Statuses a proxy, gateway or load balancer answers when it stopped waiting for the
 * provider (408 Request Timeout, 504 Gateway Timeout): the request may still have run,
 * and been billed, upstream.
 */
const UPSTREAM_TIMEOUT_STATUSES = new Set([408, 504]);

/** A failed attempt, with what the ledger needs to record it. */
export class LlmCallError extends Error {
  override readonly name = 'LlmCallError';
  constructor(
    readonly classification: LlmErrorClassification,
    readonly requestId: string | undefined,
    readonly latencyMs: number,
    options: { cause: unknown },
  ) {
    super(`model call failed: ${classification.kind}${classification.status ? ` (HTTP ${classification.status})` : ''}`, options);
  }

  /**
   * True when the provider itself answered with an error: nothing was billed. False when
   * no answer came, or an answer we cannot take for the provider's: it may have been
   * billed (the ledger then bills the whole reservation). The provider's answers carry its
   * `request-id` header; a status without one came from something in between (a proxy's
   * 502/503 page), and a timeout status (408, 504) means someone stopped waiting.
   */
  get answered(): boolean {
    const { status } = this.classification;
    return status !== undefined && !UPSTREAM_TIMEOUT_STATUSES.has(status) && this.requestId !== undefined;
  }
}

/**
 * The one door to Claude. The SDK's own retries are off (`maxRetries: 0`): retry policy
 * is ours, so attempts never multiply and every one is recorded.
 */
export class AnthropicGateway {
  private readonly client: Anthropic;

  constructor(private readonly options: GatewayOptions) {
    this.client = new Anthropic({
      apiKey: options.apiKey,
      baseURL: options.baseURL ?? null,
      maxRetries: 0,
      timeout: options.timeoutMs,
      // Each attempt already has our GenAI client span (`chat <model>`, with the step kind and
      // our failure classification); the SDK's own span of the same HTTP call would double it.
      openTelemetry: false,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  /** The prompt tokens of exactly what `complete` would send (count_tokens: free, not a model call). */
  async countTokens(request: CompletionRequest): Promise<number> {
    const counted = await this.client.messages.countTokens(toMessageParams(request), { signal: request.signal });
    return counted.input_tokens;
  }

  async complete(request: CompletionRequest): Promise<Completion> {
    // Refused before any network call: an unpriced model would be unaccounted spend.
    this.options.pricing.priceFor(request.model);
    const started = performance.now();
    try {
      const { data, request_id } = await this.client.messages
        .create({ ...toMessageParams(request), max_tokens: request.maxTokens }, { signal: request.signal })
        .withResponse();
      const usage = {
        inputTokens: data.usage.input_tokens,
        outputTokens: data.usage.output_tokens,
        cacheCreationInputTokens: data.usage.cache_creation_input_tokens ?? 0,
        // The split by TTL matters: 1-hour writes cost 2× input, 5-minute ones 1.25×.
        cacheCreation1hInputTokens: data.usage.cache_creation?.ephemeral_1h_input_tokens ?? 0,
        cacheReadInputTokens: data.usage.cache_read_input_tokens ?? 0,
      };
      return {
        text: data.content.map((block) => (block.type === 'text' ? block.text : '')).join(''),
        model: data.model,
        stopReason: data.stop_reason,
        usage,
        requestId: request_id ?? undefined,
        latencyMs: Math.round(performance.now() - started),
        costUsd: this.options.pricing.costOf(request.model, usage),
      };
    } catch (error) {
      const requestId = (error as { requestID?: string | null }).requestID ?? undefined;
      throw new LlmCallError(classifyLlmError(error), requestId, Math.round(performance.now() - started), { cause: error });
    }
  }
}
