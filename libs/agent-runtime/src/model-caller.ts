import { Inject, Injectable } from '@nestjs/common';
import type { AgentName, StepKind } from '@atelier/contracts';
import { LlmCallError, resolveModelRoute } from '@atelier/llm';
import { AuditContentCapture, LlmCallOutcome } from '@atelier/persistence';
import { LlmClient } from './llm-client';
import type { LlmReply, LlmRequest } from './step-handler';
import { type StepIdentity, StepStore } from './step-store';
import { AGENT_DEFINITION } from './tokens';
import type { AgentDefinition } from './agent-definition';

/** Which step, delivery and call within the handler a model call belongs to. */
export interface ModelCallScope {
  readonly id: StepIdentity;
  readonly kind: StepKind;
  /** The step's delivery attempt (steps.attempt). */
  readonly attempt: number;
  /** 1 for the handler's first model call in this attempt, 2 for the next, ... */
  readonly callIndex: number;
}

/**
 * The path of one model call a handler asks for: route the model, call Claude through the
 * gateway, and record the attempt in the ledger whatever its outcome.
 */
@Injectable()
export class ModelCaller {
  private readonly agent: AgentName;

  constructor(
    @Inject(AGENT_DEFINITION) definition: AgentDefinition,
    private readonly llm: LlmClient,
    private readonly store: StepStore,
    private readonly audit: AuditContentCapture,
  ) {
    this.agent = definition.agent;
  }

  async call(scope: ModelCallScope, request: LlmRequest, signal: AbortSignal): Promise<LlmReply> {
    const { id } = scope;
    const route = resolveModelRoute(scope.kind);
    const model = request.model ?? route.model;
    const common = { attemptId: `${id.stepId}:${scope.attempt}:${scope.callIndex}`, model, attempt: scope.attempt };
    // Audit content capture (issue 4): the llm.call event references prompt and response by SHA-256.
    const asked = { system: this.audit.capture(request.system), prompt: this.audit.capture(request.prompt) };
    try {
      const reply = await this.llm.gateway.complete({
        model,
        system: request.system,
        messages: [{ role: 'user', content: request.prompt }],
        maxTokens: request.maxTokens ?? route.maxTokens,
        signal,
      });
      await this.store.recordCall(id, this.agent, {
        ...common,
        model: reply.model,
        inputTokens: reply.usage.inputTokens,
        outputTokens: reply.usage.outputTokens,
        cacheCreationInputTokens: reply.usage.cacheCreationInputTokens,
        cacheReadInputTokens: reply.usage.cacheReadInputTokens,
        costUsd: reply.costUsd.toFixed(),
        latencyMs: reply.latencyMs,
        requestId: reply.requestId ?? null,
        outcome: LlmCallOutcome.SUCCESS,
        errorType: null,
      }, { ...asked, response: this.audit.capture(reply.text) });
      return { text: reply.text, model: reply.model, stopReason: reply.stopReason };
    } catch (error) {
      if (error instanceof LlmCallError) {
        const answered = error.classification.status !== undefined;
        await this.store.recordCall(id, this.agent, {
          ...common,
          inputTokens: 0,
          outputTokens: 0,
          cacheCreationInputTokens: 0,
          cacheReadInputTokens: 0,
          // An error answer is not billed; a call that never answered may be (the spend
          // work prices those at their reservation).
          costUsd: '0',
          latencyMs: error.latencyMs,
          requestId: error.requestId ?? null,
          outcome: answered ? LlmCallOutcome.ERROR : LlmCallOutcome.UNKNOWN,
          errorType: error.classification.kind,
        }, asked);
      }
      throw error;
    }
  }
}
