import { type Attributes, type Span, SpanKind } from '@opentelemetry/api';
import { recordSpanError, atelierTracer } from './span-helpers';

// OpenTelemetry GenAI semantic conventions (gen_ai.*), copied as the conventions ask while
// they are in development rather than importing `semantic-conventions/incubating`.
export const GEN_AI_ATTRIBUTES = {
  providerName: 'gen_ai.provider.name',
  operationName: 'gen_ai.operation.name',
  requestModel: 'gen_ai.request.model',
  requestMaxTokens: 'gen_ai.request.max_tokens',
  responseModel: 'gen_ai.response.model',
  responseId: 'gen_ai.response.id',
  responseFinishReasons: 'gen_ai.response.finish_reasons',
  /** All input tokens, cache reads and writes included. */
  usageInputTokens: 'gen_ai.usage.input_tokens',
  usageOutputTokens: 'gen_ai.usage.output_tokens',
  usageCacheReadInputTokens: 'gen_ai.usage.cache_read.input_tokens',
  usageCacheCreationInputTokens: 'gen_ai.usage.cache_creation.input_tokens',
  errorType: 'error.type',
} as const;

export const GEN_AI_PROVIDER = 'anthropic';

export interface LlmRequestInfo {
  readonly model: string;
  /** `chat` for the Messages API. */
  readonly operation?: string;
  readonly maxTokens?: number;
  /** More attributes: `atelier.step.kind`, `atelier.llm.attempt`, ... */
  readonly attributes?: Attributes;
}

/** Token counts as the Anthropic API reports them: `inputTokens` excludes the cache's. */
export interface LlmUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadInputTokens?: number;
  readonly cacheCreationInputTokens?: number;
}

export interface LlmResponseInfo {
  readonly model: string;
  readonly usage: LlmUsage;
  readonly responseId?: string;
  readonly finishReason?: string | null;
}

/** Input tokens the GenAI way: everything the prompt cost, cache reads and writes included. */
export function totalInputTokens(usage: LlmUsage): number {
  return usage.inputTokens + (usage.cacheReadInputTokens ?? 0) + (usage.cacheCreationInputTokens ?? 0);
}

export function genAiRequestAttributes(request: LlmRequestInfo): Attributes {
  return {
    [GEN_AI_ATTRIBUTES.providerName]: GEN_AI_PROVIDER,
    [GEN_AI_ATTRIBUTES.operationName]: request.operation ?? 'chat',
    [GEN_AI_ATTRIBUTES.requestModel]: request.model,
    ...(request.maxTokens !== undefined ? { [GEN_AI_ATTRIBUTES.requestMaxTokens]: request.maxTokens } : {}),
    ...request.attributes,
  };
}

export function genAiResponseAttributes(response: LlmResponseInfo): Attributes {
  const { usage } = response;
  return {
    [GEN_AI_ATTRIBUTES.responseModel]: response.model,
    ...(response.responseId ? { [GEN_AI_ATTRIBUTES.responseId]: response.responseId } : {}),
    ...(response.finishReason ? { [GEN_AI_ATTRIBUTES.responseFinishReasons]: [response.finishReason] } : {}),
    [GEN_AI_ATTRIBUTES.usageInputTokens]: totalInputTokens(usage),
    [GEN_AI_ATTRIBUTES.usageOutputTokens]: usage.outputTokens,
    [GEN_AI_ATTRIBUTES.usageCacheReadInputTokens]: usage.cacheReadInputTokens ?? 0,
    [GEN_AI_ATTRIBUTES.usageCacheCreationInputTokens]: usage.cacheCreationInputTokens ?? 0,
  };
}

export interface LlmSpanOptions<T> {
  /** What the response said, from `fn`'s value. */
  readonly response: (value: T) => LlmResponseInfo;
  /** `error.type` of a failure (e.g. the classification's `errorType`); the error's name by default. */
  readonly errorType?: (error: unknown) => string | undefined;
}

/**
 * A CLIENT span `chat <model>` around ONE model call (one attempt), with the GenAI
 * attributes of the request, then of the response or the failure. Run it inside the
 * attempt function, so retries and fallbacks show as sibling spans under the step.
 */
export async function withLlmSpan<T>(request: LlmRequestInfo, fn: (span: Span) => Promise<T>, options: LlmSpanOptions<T>): Promise<T> {
  const operation = request.operation ?? 'chat';
  return atelierTracer().startActiveSpan(`${operation} ${request.model}`, { kind: SpanKind.CLIENT, attributes: genAiRequestAttributes(request) }, async (span) => {
    try {
      const value = await fn(span);
      span.setAttributes(genAiResponseAttributes(options.response(value)));
      return value;
    } catch (error) {
      recordSpanError(span, error, options.errorType?.(error));
      throw error;
    } finally {
      span.end();
    }
  });
}
