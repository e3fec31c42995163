import { Inject, Injectable } from '@nestjs/common';
import type { StepKind } from '@atelier/contracts';
import { LlmCallError, promptTokensUpperBound, type PromptRequest, responseCacheKey } from '@atelier/llm';
import { LOGGER, type Logger, METRICS_CATALOG, type MetricsCatalog } from '@atelier/observability';
import { type Actor, appendAudit, AuditContentCapture, describeDenial, PrismaService, type Settlement, type SettleResult, SpendLedger } from '@atelier/persistence';
import type { AgentConfig } from './agent-config';
import type { AgentDefinition } from './agent-definition';
import { LlmClient } from './llm-client';
import { type LlmReply, type LlmRequest, StepFailure } from './step-handler';
import type { StepIdentity } from './step-store';
import { AGENT_CONFIG, AGENT_DEFINITION } from './tokens';

/** Which step, delivery and call within the handler a model call belongs to. */
export interface ModelCallScope {
  readonly id: StepIdentity;
  readonly kind: StepKind;
  /** The step's delivery attempt (steps.attempt). */
  readonly attempt: number;
  /** 1 for the handler's first model call in this attempt, 2 for the next, ... */
  readonly callIndex: number;
}

/** A handler's request with its route applied: what every attempt of the call sends (bar the model). */
export interface PreparedCall {
  readonly scope: ModelCallScope;
  readonly request: PromptRequest;
}

/** The ledger's idempotency key of one try of one call: `<stepId>:<delivery attempt>:<call index>:<try>` (try from 1). */
export function attemptIdFor(scope: ModelCallScope, tryNumber: number): string {
  return `${scope.id.stepId}:${scope.attempt}:${scope.callIndex}:${tryNumber}`;
}

/** Settlement is retried briefly: a hold left unsettled is billed in full by the sweeper, never lost, but over-counts. */
const SETTLE_RETRY_DELAYS_MS = [100, 400, 1_600];

/**
 * The path of one model call a handler asks for: the response cache, then one attempt
 * (count tokens → reserve the worst case against every budget → call → settle with the
 * ledger row and its audit event). `attempt` is public so retry, fallback and breaker
 * policies can wrap it and call it once per try.
 */
@Injectable()
export class ModelCaller {
  private readonly actor: Actor;

  constructor(
    @Inject(AGENT_DEFINITION) definition: AgentDefinition,
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
    private readonly llm: LlmClient,
    private readonly ledger: SpendLedger,
    private readonly prisma: PrismaService,
    private readonly audit: AuditContentCapture,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_CATALOG) private readonly metrics: MetricsCatalog,
  ) {
    this.actor = `service:${definition.agent}-agent`;
  }

  async call(scope: ModelCallScope, request: LlmRequest, signal: AbortSignal): Promise<LlmReply> {
    const prepared = this.prepare(scope, request);
    // Answers are cached before the handler judges them: a redelivered step (its last
    // delivery failed, perhaps on that very answer) asks afresh, and its answer replaces
    // the cached one.
    const cached = scope.attempt === 1 ? await this.fromResponseCache(prepared) : undefined;
    if (cached) return cached;
    return this.attempt(prepared, { model: prepared.request.model, attemptId: attemptIdFor(scope, 1) }, signal);
  }

  prepare(scope: ModelCallScope, request: LlmRequest): PreparedCall {
    const route = this.config.routes(scope.kind);
    return {
      scope,
      request: {
        model: request.model ?? route.model,
        system: request.system,
        ...(request.context ? { context: request.context } : {}),
        prompt: request.prompt,
        maxTokens: request.maxTokens ?? route.maxTokens,
        cacheTtl: this.config.LLM_PROMPT_CACHE === 'off' ? null : this.config.LLM_PROMPT_CACHE,
      },
    };
  }

  /** ONE attempt with `model`, recorded under `attemptId` whatever happens. */
  async attempt(call: PreparedCall, options: { model: string; attemptId: string }, signal: AbortSignal): Promise<LlmReply> {
    const { scope } = call;
    const request = { ...call.request, model: options.model };
    const { pricing } = this.config;
    pricing.priceFor(request.model); // an unpriced model is refused before anything is held or sent

    const promptTokens = await this.countPromptTokens(request, signal);
    const worstCase = pricing.worstCaseCost(request.model, { promptTokens, maxTokens: request.maxTokens, cacheTtl: request.cacheTtl });
    const reservation = await this.ledger
      .reserve({
        attemptId: options.attemptId,
        target: { tenantId: scope.id.tenantId, taskId: scope.id.taskId, stepId: scope.id.stepId },
        amountUsd: worstCase,
        ttlMs: this.config.SPEND_RESERVATION_TTL_MS,
        model: request.model,
        attempt: scope.attempt,
        actor: this.actor,
        traceId: scope.id.traceId,
      })
      .catch(async (error: unknown) => {
        // The reservation may have committed before the connection failed: release it
        // rather than leave it for the sweeper to bill for a call that never went out.
        await this.ledger.settle({ attemptId: options.attemptId, outcome: 'not_sent' }).catch(() => undefined);
        throw error;
      });
    if (!reservation.granted) {
      const reason = describeDenial(reservation.amountUsd, reservation.blocking);
      await appendAudit(this.prisma, {
        action: 'budget.denied',
        actor: this.actor,
        subject: `step:${scope.id.stepId}`,
        tenantId: scope.id.tenantId,
        taskId: scope.id.taskId,
        traceId: scope.id.traceId,
        data: { attemptId: options.attemptId, model: request.model, promptTokens, neededUsd: reservation.amountUsd, budgets: reservation.blocking.map((budget) => ({ ...budget })) },
      });
      throw new StepFailure('BUDGET_EXCEEDED', reason, false);
    }
    if (signal.aborted) {
      await this.settle({ attemptId: options.attemptId, outcome: 'not_sent' });
      throw signal.reason;
    }

    // The llm.call event references what was asked and answered by SHA-256, with content as AUDIT_CAPTURE allows.
    const asked = {
      system: this.audit.capture(request.system),
      ...(request.context ? { context: this.audit.capture(request.context) } : {}),
      prompt: this.audit.capture(request.prompt),
    };
    try {
      const reply = await this.llm.gateway.complete({ ...request, signal });
      await this.settle({
        attemptId: options.attemptId,
        outcome: 'success',
        auditData: { ...asked, response: this.audit.capture(reply.text) },
        costUsd: reply.costUsd,
        usage: reply.usage,
        latencyMs: reply.latencyMs,
        requestId: reply.requestId ?? null,
        ...(this.config.LLM_RESPONSE_CACHE_TTL_SECONDS > 0
          ? {
              responseCache: {
                key: responseCacheKey(scope.id.tenantId, request),
                ttlSeconds: this.config.LLM_RESPONSE_CACHE_TTL_SECONDS,
                response: { text: reply.text, model: reply.model, stopReason: reply.stopReason },
              },
            }
          : {}),
      });
      if (reply.costUsd.greaterThan(reservation.amountUsd)) {
        this.logger.warn({ attemptId: options.attemptId, costUsd: reply.costUsd.toFixed(), reservedUsd: reservation.amountUsd }, 'a call cost more than its reservation');
      }
      return { text: reply.text, model: reply.model, stopReason: reply.stopReason };
    } catch (error) {
      // An answered error was not billed; a call that never answered may have been, and
      // so may one that failed in a way we do not understand.
      const known = error instanceof LlmCallError ? error : undefined;
      await this.settle({
        attemptId: options.attemptId,
        outcome: known?.answered ? 'error' : 'unknown',
        ...(known ? { latencyMs: known.latencyMs } : {}),
        requestId: known?.requestId ?? null,
        errorType: known?.classification.kind ?? 'unknown',
        auditData: asked,
      });
      throw error;
    }
  }

  private async fromResponseCache(call: PreparedCall): Promise<LlmReply | undefined> {
    if (this.config.LLM_RESPONSE_CACHE_TTL_SECONDS === 0) return undefined;
    const { scope } = call;
    const hit = await this.ledger.takeCachedResponse({
      key: responseCacheKey(scope.id.tenantId, call.request),
      attemptId: attemptIdFor(scope, 1),
      target: { tenantId: scope.id.tenantId, taskId: scope.id.taskId, stepId: scope.id.stepId },
      attempt: scope.attempt,
      actor: this.actor,
      traceId: scope.id.traceId,
    });
    if (!hit) return undefined;
    const response = hit.response as { text?: unknown; model?: unknown; stopReason?: unknown };
    return { text: String(response.text ?? ''), model: String(response.model ?? hit.model), stopReason: typeof response.stopReason === 'string' ? response.stopReason : null };
  }

  /** count_tokens when enabled and answering; otherwise (or on any failure) a safe over-estimate. */
  private async countPromptTokens(request: PromptRequest, signal: AbortSignal): Promise<number> {
    if (this.config.LLM_COUNT_TOKENS === 'on') {
      try {
        return await this.llm.gateway.countTokens({ ...request, signal });
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        this.logger.warn({ err: error, model: request.model }, 'count_tokens failed; reserving on a byte-based over-estimate');
      }
    }
    return promptTokensUpperBound(request);
  }

  private async settle(settlement: Settlement): Promise<SettleResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.ledger.settle(settlement);
        for (const alert of result.alerts) this.metrics.budgetAlerts.inc({ scope: alert.scope, threshold: String(alert.threshold) });
        return result;
      } catch (error) {
        const delay = SETTLE_RETRY_DELAYS_MS[attempt];
        if (delay === undefined) throw error;
        this.logger.warn({ err: error, attemptId: settlement.attemptId }, 'settling a model call failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}
