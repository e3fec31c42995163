import type { AgentName, StepErrorCode, StepKind } from '@atelier/contracts';
import type { Logger } from '@atelier/observability';

export interface LlmRequest {
  system: string;
  /** Context several calls share (findings, a draft under review): sent before the prompt and prompt-cached with the system prompt. */
  context?: string;
  /** The user turn; the agent's prompt built from the step input. */
  prompt: string;
  /** Defaults to the step kind's route (libs/llm model routing). */
  model?: string;
  maxTokens?: number;
}

export interface LlmReply {
  text: string;
  model: string;
  stopReason: string | null;
}

export interface StepContext {
  readonly agent: AgentName;
  readonly kind: StepKind;
  readonly taskId: string;
  readonly stepId: string;
  readonly tenantId: string;
  readonly attempt: number;
  readonly input: Readonly<Record<string, unknown>>;
  /** Aborted when the step must stop (shutdown grace exceeded, cancellation). */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Calls Claude within the task's budgets; every attempt is recorded in llm_calls and the audit trail. A refused call fails the step with BUDGET_EXCEEDED. */
  complete(request: LlmRequest): Promise<LlmReply>;
}

/** What an agent app provides per step kind: prompts and parsing, nothing else. */
export type StepHandler = (context: StepContext) => Promise<Record<string, unknown>>;

export type StepHandlers = Partial<Record<StepKind, StepHandler>>;

/**
 * The model call was not made: every model it could use has an open circuit breaker.
 * Not the step's fault, so the step goes back to the queue without using an attempt, to
 * be taken again once a breaker half-opens (`retryInMs`).
 */
export class ModelsUnavailable extends Error {
  override readonly name = 'ModelsUnavailable';
  constructor(
    message: string,
    readonly retryInMs: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A handler's way to fail a step with a reason a user can read. */
export class StepFailure extends Error {
  override readonly name = 'StepFailure';
  constructor(
    readonly code: StepErrorCode,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
