import Anthropic from '@anthropic-ai/sdk';
import { classifyLlmError, type LlmErrorClassification } from '@atelier/resilience';
import type Decimal from 'decimal.js';
import type { Pricing } from './pricing';

export interface GatewayOptions {
  apiKey: string;
  baseURL?: string;
  timeoutMs: number;
  pricing: Pricing;
}

export interface CompletionRequest {
  model: string;
  system: string;
  messages: { role: 'user' | 'assistant'; content: string }[];
  maxTokens: number;
  signal?: AbortSignal;
}

export interface Completion {
  text: string;
  model: string;
  stopReason: string | null;
  usage: { inputTokens: number; outputTokens: number; cacheCreationInputTokens: number; cacheReadInputTokens: number };
  requestId: string | undefined;
  latencyMs: number;
  costUsd: Decimal;
}

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
}

/**
 * The one door to Claude. The SDK's own retries are off (`maxRetries: 0`): retry policy
 * is ours, so attempts never multiply and every one is recorded.
 */
export class AnthropicGateway {
  private readonly client: Anthropic;

  constructor(private readonly options: GatewayOptions) {
    this.client = new Anthropic({ apiKey: options.apiKey, baseURL: options.baseURL ?? null, maxRetries: 0, timeout: options.timeoutMs });
  }

  async complete(request: CompletionRequest): Promise<Completion> {
    // Refused before any network call: an unpriced model would be unaccounted spend.
    this.options.pricing.priceFor(request.model);
    const started = performance.now();
    try {
      const { data, request_id } = await this.client.messages
        .create(
          { model: request.model, system: request.system, messages: request.messages, max_tokens: request.maxTokens },
          { signal: request.signal },
        )
        .withResponse();
      const usage = {
        inputTokens: data.usage.input_tokens,
        outputTokens: data.usage.output_tokens,
        cacheCreationInputTokens: data.usage.cache_creation_input_tokens ?? 0,
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
