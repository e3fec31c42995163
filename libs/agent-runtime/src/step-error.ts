import type { StepError } from '@atelier/contracts';
import { LlmCallError, UnknownModelError } from '@atelier/llm';
import { StepFailure } from './step-handler';

/** What a failed attempt tells the step row and the orchestrator: a code, a readable message, retryable or not. */
export function toStepError(error: unknown): StepError {
  if (error instanceof StepFailure) return { code: error.code, message: error.message, retryable: error.retryable };
  if (error instanceof UnknownModelError) return { code: 'UNKNOWN_MODEL', message: error.message, retryable: false };
  if (error instanceof LlmCallError) {
    return {
      code: error.classification.retryable ? 'LLM_UNAVAILABLE' : 'LLM_ERROR',
      message: `The model call failed (${error.classification.kind}${error.classification.status ? `, HTTP ${error.classification.status}` : ''}).`,
      retryable: error.classification.retryable,
    };
  }
  return { code: 'HANDLER_ERROR', message: 'The step handler failed unexpectedly.', retryable: true };
}
