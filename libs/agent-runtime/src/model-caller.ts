import { Inject, Injectable } from '@nestjs/common';
import type { StepKind } from '@atelier/contracts';
import { type Completion, LlmCallError, promptTokensUpperBound, type PromptRequest, responseCacheKey, shouldCountPrompt } from '@atelier/llm';
import { LOGGER, type Logger, METRICS_CATALOG, type MetricsCatalog, observeLlmAttempt, withLlmSpan } from '@atelier/observability';
import {
  type Actor,
  appendAudit,
  AuditContentCapture,
  type AnsweredFromCache,
  type CachedResponse,
  describeDenial,
  PrismaService,
  type ReserveRequest,
  type ReserveResult,
  type Settlement,
  type SettleResult,
  SpendLedger,
  type StepClaimTerms,
  tenantSafeBlocking,
} from '@atelier/persistence';
import {
  CallCancelledError,
  InjectLlmPolicySettings,
  LlmCallPolicy,
  type LlmCallOutcome,
  type LlmPolicySettings,
  linkSignals,
  ModelCallFailedError,
  type ModelOptionRecord,
  resolveCallPolicy,
} from '@atelier/resilience';
import type { AgentConfig } from './agent-config';
import type { AgentDefinition } from './agent-definition';
import type { FirstCallClaim } from './first-call-claim';
import { LlmClient } from './llm-client';
import { type LlmReply, type LlmRequest, ModelsUnavailable, StepFailure } from './step-handler';
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
  /**
   * Where a successful call leaves its settlement for the statement that ends the attempt
   * to write (StepStore.endAttempt), one round trip and one commit less per step; the
   * attempt's next call settles what is left here first, so its reservation is decided
   * on exact money. Without it a call settles as it ends.
   */
  readonly unsettled?: Settlement[];
  /** The step's claim, when it is left to the reservation of the handler's first model call (see FirstCallClaim). */
  readonly claim?: FirstCallClaim;
}

/** What a step's metadata keeps of one model call: which model served, and why others did not. */
export interface ModelCallSummary {
  readonly callIndex: number;
  readonly model: string;
  /** Answered from the response cache: no attempt was made. */
  readonly cached?: boolean;
  /** Served by a model after the routed one (the routed one was overloaded or its breaker open). */
  readonly fellBack?: boolean;
  readonly attempts?: number;
  readonly options?: readonly ModelOptionRecord[];
}

export interface ModelCallResult {
  readonly reply: LlmReply;
  readonly summary: ModelCallSummary;
}

/** A handler's request with its route applied: what every attempt of the call sends (bar the model). */
export interface PreparedCall {
  readonly scope: ModelCallScope;
  readonly request: PromptRequest;
  /** Whether LLM_COUNT_TOKENS asks for a count of the prompt with the routed model (see shouldCountPrompt). */
  readonly countPrompt: boolean;
}

interface PromptTokenCount {
  readonly promptTokens: number;
  /** A byte-based bound (the prompt not counted, or count_tokens failing), not count_tokens' estimate: pricing adds no margin. */
  readonly promptTokensAreUpperBound: boolean;
}

/** An attempt's answer; `fromCache` when its reservation found it in the response cache instead (no call was made). */
type AttemptReply = LlmReply & { fromCache?: true };

/** The first try's reservation, made before the call policy by the statement that claimed the step (see ModelCaller.claimingReservation). */
interface ReservedAhead {
  readonly model: string;
  readonly count: PromptTokenCount;
  /** Undefined if the statement left it undecided: the try then reserves as usual. */
  readonly reservation: ReserveResult | AnsweredFromCache | undefined;
  /** Whether the try took it (a grant not taken is released). */
  taken: boolean;
}

/** A count of the prompt for `model` already under way (see ModelCaller.call). */
interface CountAhead {
  readonly model: string;
  readonly tokens: Promise<PromptTokenCount>;
  cancel(): void;
}

/** The ledger's idempotency key of one try of one call: `<stepId>:<delivery attempt>:<call index>:<try>` (try from 1). */
export function attemptIdFor(scope: ModelCallScope, tryNumber: number): string {
  return `${scope.id.stepId}:${scope.attempt}:${scope.callIndex}:${tryNumber}`;
}

/** Settlement is retried briefly: a hold left unsettled is billed in full by the sweeper, never lost, but over-counts. */
const SETTLE_RETRY_DELAYS_MS = [100, 400, 1_600];

/**
 * The path of one model call a handler asks for: the response cache, then the call
 * policy (bulkhead → fallback over the kind's models → retry → breaker → timeout, see
 * @atelier/resilience) around each attempt, and each attempt is: count tokens → reserve
 * the worst case against every budget → call → settle with the ledger row and its audit
 * event (a success may leave that to the end of its step's attempt: ModelCallScope.unsettled).
 * The cache lookup usually rides in the first try's reservation; a prompt worth counting
 * is counted once, alongside a lookup of its own, and the count serves each attempt with
 * the routed model. Every attempt is in the ledger under its own id, whatever happened
 * to it.
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
    private readonly policy: LlmCallPolicy,
    @InjectLlmPolicySettings() private readonly policySettings: LlmPolicySettings,
  ) {
    this.actor = `service:${definition.agent}-agent`;
  }

  /**
   * The handler's model call, start to finish. A budget refusal fails with
   * BUDGET_EXCEEDED (never retried); a call every model of the chain failed fails with
   * the policy's readable reason (LLM_UNAVAILABLE when a later delivery may succeed,
   * LLM_ERROR when the request itself was refused); the caller's abort comes out as
   * the signal's reason.
   */
  async call(scope: ModelCallScope, request: LlmRequest, signal: AbortSignal): Promise<ModelCallResult> {
    if (scope.unsettled?.length) await this.settleAll(scope.unsettled.splice(0));
    const prepared = this.prepare(scope, request);
    const routed = prepared.request.model;
    // Answers are cached before the handler judges them: a redelivered step (its last
    // delivery failed, perhaps on that very answer) asks afresh, and its answer replaces
    // the cached one.
    const cacheKey = scope.attempt === 1 && this.config.LLM_RESPONSE_CACHE_TTL_SECONDS > 0 ? responseCacheKey(scope.id.tenantId, prepared.request) : undefined;
    // The handler's first call of a step not claimed yet claims it in its first try's
    // reservation (with the cache lookup), before the call policy; later calls wait for it.
    const claimTerms = await scope.claim?.termsForCall();
    const reservedAhead = claimTerms && scope.claim ? await this.claimingReservation(prepared, cacheKey, claimTerms, scope.claim, signal) : undefined;
    // Otherwise the lookup usually rides in the first try's reservation: one round trip less (a hit
    // then passes through the call policy as that try's success). It goes out alone, before
    // the policy, when the prompt is to be counted (the count goes out alongside it, and the
    // reservation needs the count) and when the routed model's breaker is not closed (a
    // cached answer must neither wait for the breaker nor pass for a half-open probe's
    // success).
    const lookupInReservation = !reservedAhead && cacheKey !== undefined && !prepared.countPrompt && this.policy.breakers.state(routed) === 'closed';
    const lookup = !reservedAhead && cacheKey !== undefined && !lookupInReservation ? this.fromResponseCache(prepared, cacheKey) : undefined;
    // A miss is the common case, and its first attempt needs the prompt's token count:
    // count_tokens (free) goes out alongside the lookup, a round trip sooner, and the
    // count serves every attempt with the routed model. Cancelled on a hit.
    const ahead = lookup && prepared.countPrompt ? this.countAhead(prepared.request, signal) : undefined;
    let outcome: LlmCallOutcome<AttemptReply>;
    const settings = resolveCallPolicy(this.policySettings, scope.kind, routed);
    try {
      const cached = reservedAhead?.reservation && 'cached' in reservedAhead.reservation ? cachedReply(reservedAhead.reservation.cached) : await lookup;
      if (cached) return { reply: cached, summary: { callIndex: scope.callIndex, model: cached.model, cached: true } };
      outcome = await this.policy.execute(
        settings,
        (attempt) => {
          const counted = reservedAhead?.model === attempt.model ? Promise.resolve(reservedAhead.count) : ahead?.model === attempt.model ? ahead.tokens : undefined;
          // The try the lookup would have been recorded under: the first, with the routed model.
          const first = attempt.attempt === 1 && attempt.model === routed;
          const lookUpFirst = lookupInReservation && first ? cacheKey : undefined;
          const reserved = first && reservedAhead?.reservation && !('cached' in reservedAhead.reservation) ? reservedAhead.reservation : undefined;
          if (reserved && reservedAhead) reservedAhead.taken = true;
          return this.attempt(prepared, { model: attempt.model, attemptId: attemptIdFor(scope, attempt.attempt), callerSignal: signal, counted, cacheKey: lookUpFirst, reserved }, attempt.signal);
        },
        { signal },
      );
    } catch (error) {
      if (error instanceof CallCancelledError && signal.aborted) throw signal.reason;
      if (error instanceof ModelCallFailedError && error.kind === 'circuit_open') {
        throw new ModelsUnavailable(error.message, this.untilHalfOpen(settings.models), { cause: error });
      }
      if (error instanceof ModelCallFailedError) {
        throw new StepFailure(error.kind === 'client_error' ? 'LLM_ERROR' : 'LLM_UNAVAILABLE', error.message, error.retryable, { cause: error });
      }
      throw error;
    } finally {
      ahead?.cancel();
      // A hold made ahead for a try the policy never made (its bulkhead was full, say) is released, not left for the sweeper to bill.
      if (reservedAhead?.reservation && 'granted' in reservedAhead.reservation && reservedAhead.reservation.granted && !reservedAhead.taken) {
        await this.settle({ attemptId: attemptIdFor(scope, 1), outcome: 'not_sent' }).catch(() => undefined /* the sweeper bills it at its reservation */);
      }
    }
    const { fromCache, ...reply } = outcome.value;
    if (fromCache) return { reply, summary: { callIndex: scope.callIndex, model: reply.model, cached: true } };
    if (outcome.fellBack) this.logger.warn({ model: outcome.model, options: outcome.options }, 'model call served by a fallback model');
    return {
      reply,
      summary: { callIndex: scope.callIndex, model: outcome.model, fellBack: outcome.fellBack, attempts: outcome.attempts.length, options: outcome.options },
    };
  }

  private prepare(scope: ModelCallScope, request: LlmRequest): PreparedCall {
    const route = this.config.routes(scope.kind);
    const prompt: PromptRequest = {
      model: request.model ?? route.model,
      system: request.system,
      ...(request.context ? { context: request.context } : {}),
      prompt: request.prompt,
      maxTokens: request.maxTokens ?? route.maxTokens,
      cacheTtl: this.config.LLM_PROMPT_CACHE === 'off' ? null : this.config.LLM_PROMPT_CACHE,
    };
    return { scope, request: prompt, countPrompt: this.worthCounting(prompt) };
  }

  /**
   * ONE attempt with `model`, recorded under `attemptId` whatever happens. `signal` is the
   * attempt's (its time limit, the call's time budget, the caller's); `callerSignal` the
   * caller's alone, to tell our own timeout from a cancellation in the ledger.
   */
  private async attempt(
    call: PreparedCall,
    options: {
      model: string;
      attemptId: string;
      callerSignal: AbortSignal;
      counted: Promise<PromptTokenCount> | undefined;
      cacheKey: string | undefined;
      /** Made already (see claimingReservation). */
      reserved: ReserveResult | undefined;
    },
    signal: AbortSignal,
  ): Promise<AttemptReply> {
    const { scope } = call;
    const request = { ...call.request, model: options.model };
    this.config.pricing.priceFor(request.model); // an unpriced model is refused before anything is held or sent

    // The routed model's decision was made once, in prepare; a fallback model's prices may differ.
    const count = request.model === call.request.model ? call.countPrompt : this.worthCounting(request);
    const counted = await (options.counted ? unlessAborted(options.counted, signal) : this.countPromptTokens(request, count, signal));
    const { promptTokens } = counted;
    const reservation =
      options.reserved ??
      (await this.releasingOnFailure(options.attemptId, () => {
        const hold = this.holdFor(scope, request, counted, options.attemptId);
        return options.cacheKey ? this.ledger.reserveUnlessCached(hold, options.cacheKey) : this.ledger.reserve(hold);
      }));
    if ('cached' in reservation) return { ...cachedReply(reservation.cached), fromCache: true };
    if (!reservation.granted) {
      const reason = describeDenial(reservation.amountUsd, reservation.blocking);
      await appendAudit(this.prisma, {
        action: 'budget.denied',
        actor: this.actor,
        subject: `step:${scope.id.stepId}`,
        tenantId: scope.id.tenantId,
        taskId: scope.id.taskId,
        traceId: scope.id.traceId,
        data: { attemptId: options.attemptId, model: request.model, promptTokens, neededUsd: reservation.amountUsd, budgets: tenantSafeBlocking(reservation.blocking).map((budget) => ({ ...budget })) },
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
      const reply = await this.completeObserved({ ...request, signal }, scope.kind, options.callerSignal);
      const settlement: Settlement = {
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
      };
      if (scope.unsettled) scope.unsettled.push(settlement);
      else await this.settleAll([settlement]);
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
        errorType: failureKind(error, options.callerSignal),
        auditData: asked,
      });
      throw error;
    }
  }

  /**
   * The first try's reservation with the routed model (and the cache lookup, under
   * `cacheKey`), made by the statement that claims the step (FirstCallClaim). Throws
   * NotClaimedByFirstCall when the step was not claimed, and when this call must not carry
   * the claim: its routed model's breaker is not closed, so the policy may not make that
   * try at all (and a cached answer must not pass for a half-open probe's success).
   */
  private async claimingReservation(call: PreparedCall, cacheKey: string | undefined, terms: StepClaimTerms, claim: FirstCallClaim, signal: AbortSignal): Promise<ReservedAhead> {
    const { scope, request } = call;
    if (this.policy.breakers.state(request.model) !== 'closed') throw claim.giveUp(`the circuit breaker of ${request.model} is not closed`);
    const attemptId = attemptIdFor(scope, 1);
    let count: PromptTokenCount;
    let claiming;
    try {
      this.config.pricing.priceFor(request.model); // an unpriced model is refused before anything is held or sent
      count = await this.countPromptTokens(request, call.countPrompt, signal);
      claiming = await this.releasingOnFailure(attemptId, () => this.ledger.reserveClaiming(this.holdFor(scope, request, count, attemptId), cacheKey ?? null, terms));
    } catch (error) {
      // Whatever it was, the delivery claims the step the usual way and runs the handler again, which meets it again.
      claim.giveUp('the first model call failed before it could claim the step');
      throw error;
    }
    if (claiming.claimed === false) throw claim.giveUp('the step was not claimed by its first model call');
    claim.claimed(claiming.claimed);
    return { model: request.model, count, reservation: claiming.reservation, taken: false };
  }

  /** What one try holds: the worst case of `request` on its prompt's count. */
  private holdFor(scope: ModelCallScope, request: PromptRequest, { promptTokens, promptTokensAreUpperBound }: PromptTokenCount, attemptId: string): ReserveRequest {
    return {
      attemptId,
      target: { tenantId: scope.id.tenantId, taskId: scope.id.taskId, stepId: scope.id.stepId },
      amountUsd: this.config.pricing.worstCaseCost(request.model, { promptTokens, promptTokensAreUpperBound, maxTokens: request.maxTokens, cacheTtl: request.cacheTtl }),
      ttlMs: this.config.SPEND_RESERVATION_TTL_MS,
      model: request.model,
      attempt: scope.attempt,
      actor: this.actor,
      traceId: scope.id.traceId,
    };
  }

  /**
   * `reserve()`, releasing the hold under `attemptId` when it fails: the reservation may have
   * committed before the connection failed, and the sweeper would bill a call that never went out.
   */
  private async releasingOnFailure<T>(attemptId: string, reserve: () => Promise<T>): Promise<T> {
    try {
      return await reserve();
    } catch (error) {
      await this.ledger.settle({ attemptId, outcome: 'not_sent' }).catch(() => undefined);
      throw error;
    }
  }

  /** How long until the first of `models` with an open breaker lets a probe through. */
  private untilHalfOpen(models: readonly string[]): number {
    const times = models.map((model) => this.policy.breakers.halfOpensAt(model)).filter((at): at is number => at !== undefined);
    return times.length === 0 ? 0 : Math.max(0, Math.min(...times) - Date.now());
  }

  /** One HTTP call to the provider inside a GenAI client span, with its duration, tokens and cost in the metrics. */
  private async completeObserved(request: PromptRequest & { signal: AbortSignal }, kind: StepKind, callerSignal: AbortSignal): Promise<Completion> {
    const started = performance.now();
    const observe = (fields: { usage?: Completion['usage']; costUsd?: number; errorType?: string }) =>
      observeLlmAttempt(this.metrics, { model: request.model, durationSeconds: (performance.now() - started) / 1000, ...fields });
    try {
      const reply = await withLlmSpan(
        { model: request.model, maxTokens: request.maxTokens, attributes: { 'atelier.step.kind': kind } },
        () => this.llm.gateway.complete(request),
        {
          response: (completion) => ({ model: completion.model, usage: completion.usage, finishReason: completion.stopReason }),
          errorType: (error) => failureKind(error, callerSignal),
        },
      );
      observe({ usage: reply.usage, costUsd: reply.costUsd.toNumber() });
      return reply;
    } catch (error) {
      observe({ errorType: failureKind(error, callerSignal) });
      throw error;
    }
  }

  /** The cached answer to this request under `key`, if any, recorded as the call's first try would be. */
  private async fromResponseCache(call: PreparedCall, key: string): Promise<LlmReply | undefined> {
    const { scope } = call;
    const hit = await this.ledger.takeCachedResponse({
      key,
      attemptId: attemptIdFor(scope, 1),
      target: { tenantId: scope.id.tenantId, taskId: scope.id.taskId, stepId: scope.id.stepId },
      attempt: scope.attempt,
      actor: this.actor,
      traceId: scope.id.traceId,
    });
    return hit ? cachedReply(hit) : undefined;
  }

  /** A count of a prompt worth counting, started now for attempts yet to come. */
  private countAhead(request: PromptRequest, signal: AbortSignal): CountAhead {
    const cancel = new AbortController();
    const linked = linkSignals(signal, cancel.signal);
    let counting = true;
    const tokens = this.countPromptTokens(request, true, linked.signal).finally(() => {
      counting = false;
      linked.dispose();
    });
    tokens.catch(() => undefined); // cancelled, or the caller's abort: an attempt that awaits it sees that itself
    // Usually the count is in by now (its attempt awaited it): nothing to stop, and no Error (with its stack) to build.
    return {
      model: request.model,
      tokens,
      cancel: () => {
        if (counting) cancel.abort(new Error('count no longer needed'));
      },
    };
  }

  /** Whether LLM_COUNT_TOKENS asks for a count of this request's prompt (see shouldCountPrompt). */
  private worthCounting(request: PromptRequest): boolean {
    return shouldCountPrompt(this.config.LLM_COUNT_TOKENS, this.config.pricing, request);
  }

  /**
   * count_tokens when `count` (worthCounting) and it answers (an estimate: pricing adds its
   * margin); otherwise (or on any failure) a byte-based bound that needs none.
   */
  private async countPromptTokens(request: PromptRequest, count: boolean, signal: AbortSignal): Promise<PromptTokenCount> {
    if (count) {
      try {
        return { promptTokens: await this.llm.gateway.countTokens({ ...request, signal }), promptTokensAreUpperBound: false };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        this.logger.warn({ err: error, model: request.model }, 'count_tokens failed; reserving on a byte-based over-estimate');
      }
    }
    return { promptTokens: promptTokensUpperBound(request), promptTokensAreUpperBound: true };
  }

  /** Settles each of `settlements` in turn (see settle); an overrun is logged. */
  async settleAll(settlements: readonly Settlement[]): Promise<void> {
    for (const settlement of settlements) this.warnOnOverrun(settlement, await this.settle(settlement));
  }

  /** Logs each of `settlements` whose result says it cost more than its reservation. */
  warnOnOverruns(settlements: readonly Settlement[], results: readonly SettleResult[]): void {
    settlements.forEach((settlement, index) => {
      const result = results[index];
      if (result) this.warnOnOverrun(settlement, result);
    });
  }

  private warnOnOverrun({ attemptId }: Settlement, { costUsd, overrunUsd }: SettleResult): void {
    // Recorded exactly (the llm.call event says by how much); the caps it held may now be over by that much.
    if (overrunUsd) this.logger.warn({ attemptId, costUsd, overrunUsd }, 'a call cost more than its reservation');
  }

  private async settle(settlement: Settlement): Promise<SettleResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.ledger.settle(settlement);
      } catch (error) {
        const delay = SETTLE_RETRY_DELAYS_MS[attempt];
        if (delay === undefined) throw error;
        this.logger.warn({ err: error, attemptId: settlement.attemptId }, 'settling a model call failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}

/** A reply from the response cache (stored by a settlement's responseCache). */
function cachedReply(hit: CachedResponse): LlmReply {
  const response = hit.response as { text?: unknown; model?: unknown; stopReason?: unknown };
  return { text: String(response.text ?? ''), model: String(response.model ?? hit.model), stopReason: typeof response.stopReason === 'string' ? response.stopReason : null };
}

/** `promise`, or the signal's reason as soon as it aborts (the attempt's time limit, the caller's cancel). */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The kind of a failed attempt, as the ledger, spans and metrics name it. Our own
 * timers abort an attempt through its signal, so the SDK reports those as aborted:
 * unless the caller itself aborted, that was a timeout.
 */
function failureKind(error: unknown, callerSignal: AbortSignal): string {
  if (!(error instanceof LlmCallError)) return 'unknown';
  const { kind } = error.classification;
  return kind === 'aborted' && !callerSignal.aborted ? 'timeout' : kind;
}
