import { GEN_AI_PROVIDER, type LlmUsage, totalInputTokens } from './gen-ai-spans';
import type { MetricsCatalog } from './metrics-catalog';

export interface LlmAttemptObservation {
  readonly model: string;
  readonly durationSeconds: number;
  /** Set on success. */
  readonly usage?: LlmUsage;
  /** Set on failure: the classification's `errorType`. */
  readonly errorType?: string;
  /** Dollars this attempt cost (a Decimal converted at the edge: Prometheus samples are floats). */
  readonly costUsd?: number;
  readonly operation?: string;
}

/** GenAI client metrics (duration and token usage) and spend for ONE model call attempt. */
export function observeLlmAttempt(catalog: MetricsCatalog, observation: LlmAttemptObservation): void {
  const labels = {
    gen_ai_operation_name: observation.operation ?? 'chat',
    gen_ai_provider_name: GEN_AI_PROVIDER,
    gen_ai_request_model: observation.model,
  };
  catalog.genAiOperationDuration.observe({ ...labels, error_type: observation.errorType ?? '' }, observation.durationSeconds);
  if (observation.usage) {
    catalog.genAiTokenUsage.observe({ ...labels, gen_ai_token_type: 'input' }, totalInputTokens(observation.usage));
    catalog.genAiTokenUsage.observe({ ...labels, gen_ai_token_type: 'output' }, observation.usage.outputTokens);
  }
  if (observation.costUsd !== undefined && observation.costUsd > 0) catalog.llmCost.inc({ model: observation.model }, observation.costUsd);
}
