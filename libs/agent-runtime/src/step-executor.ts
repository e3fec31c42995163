import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import { agentStream, StepDispatchV1, type AgentName, type StepDispatch, type StepError } from '@atelier/contracts';
import { describeRejection, type InboundMessage, JetStreamClient, publishTaskEvent, type RejectionIssue, schemaIssues } from '@atelier/messaging';
import { activeTraceIds, crashPoint, LOGGER, type Logger, METRICS_CATALOG, type MetricsCatalog, withLogFields } from '@atelier/observability';
import { isDatabaseUnavailable, type Settlement } from '@atelier/persistence';
import type { AgentConfig } from './agent-config';
import type { AgentDefinition } from './agent-definition';
import { FirstCallClaim } from './first-call-claim';
import { ModelCaller, type ModelCallSummary } from './model-caller';
import { ModelsUnavailable, type StepContext, StepFailure } from './step-handler';
import { toStepError } from './step-error';
import { StepResultPublisher } from './step-result-publisher';
import { type AttemptEnd, carriedSettlements, type ClaimedStep, type StepIdentity, type StepMetadata, StepStore } from './step-store';
import { TaskStopped, TaskStopWatcher } from './task-stop-watcher';
import { AGENT_CONFIG, AGENT_DEFINITION } from './tokens';

/** How often a running step tells JetStream (working) and Postgres (lease) that it is alive: well inside ack_wait. */
const HEARTBEAT_DIVISOR = 3;
/** Redelivery delays while the database is unreachable: such deliveries never reached the step and use no attempt. */
const UNAVAILABLE_NAK_MS = [500, 1_000, 2_000, 5_000];
const RESULT_PUBLISH_RETRY_MS = 1_000;
/** How long the end of an attempt is retried while the database is unreachable. */
const PERSIST_RETRY_BUDGET_MS = 60_000;
/** First look-again delay for a duplicate delivery of a step another delivery is running. */
const BUSY_RETRY_MS = 1_000;

/** The step lost its lease to another delivery (this one stalled past it): that one's outcome counts. */
class LeaseLost extends Error {
  override readonly name = 'LeaseLost';
}

interface Delivery {
  readonly dispatch: StepDispatch;
  readonly id: StepIdentity;
  readonly owner: string;
  readonly message: InboundMessage;
  readonly log: Logger;
}

interface Attempt extends Delivery {
  readonly step: ClaimedStep;
}

/**
 * One delivery of one step message, start to finish: validate, claim the step under a
 * lease (a first delivery that carries the step's input: in its first model call's
 * reservation, see FirstCallClaim), run the handler with heartbeats, end the attempt in
 * one statement, publish the result, settle the message. Delivery is at-least-once; the
 * step row (status, lease, attempt count) makes execution effectively-once.
 */
@Injectable()
export class StepExecutor {
  private readonly agent: AgentName;

  constructor(
    @Inject(AGENT_DEFINITION) private readonly definition: AgentDefinition,
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
    private readonly store: StepStore,
    private readonly models: ModelCaller,
    private readonly results: StepResultPublisher,
    private readonly stops: TaskStopWatcher,
    private readonly nats: JetStreamClient,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_CATALOG) private readonly metrics: MetricsCatalog,
  ) {
    this.agent = definition.agent;
  }

  async execute(message: InboundMessage, shutdown: AbortSignal): Promise<void> {
    const parsed = StepDispatchV1.safeParse(message.data);
    if (!parsed.success || parsed.data.agent !== this.agent) {
      const issues = parsed.success ? [{ path: 'agent', message: `is not ${this.agent}` }] : schemaIssues(parsed.error.issues);
      await this.reject(message, 'invalid step.dispatch message', issues);
      return;
    }
    const dispatch = parsed.data;
    // Every log line of the delivery, however deep (model calls, the ledger), names the step; trace and span ids come with the active span.
    await withLogFields({ taskId: dispatch.taskId, stepId: dispatch.stepId, kind: dispatch.kind }, () => this.deliver(message, dispatch, shutdown));
  }

  private async deliver(message: InboundMessage, dispatch: StepDispatch, shutdown: AbortSignal): Promise<void> {
    // The message's consumer span (see JetStreamClient.startConsumer) continues the task's trace.
    const traceId = activeTraceIds()?.traceId ?? randomUUID().replaceAll('-', '');
    const id: StepIdentity = { taskId: dispatch.taskId, stepId: dispatch.stepId, tenantId: dispatch.tenantId, traceId };
    const log = this.logger;
    const owner = randomUUID();
    const delivery: Delivery = { dispatch, id, owner, message, log };

    // A first delivery that carries the step's input starts on it at once, leaving the claim
    // to its first model call; what that call does not claim is claimed below, as any other.
    if (dispatch.input && message.deliveryCount === 1) {
      if (await this.runClaimingInFirstCall(delivery, dispatch.input, shutdown)) return;
      if (shutdown.aborted) {
        message.nak(0); // nothing was written: another replica takes the step now
        return;
      }
    }

    let claim;
    try {
      claim = await this.store.claim(id, this.agent, owner, this.config.STEP_ACK_WAIT_MS, this.config.STEP_MAX_ATTEMPTS);
    } catch (error) {
      this.giveBackUnstarted(message, error, log);
      return;
    }
    switch (claim.type) {
      case 'missing':
        await this.reject(message, 'no such step for this agent', [{ path: 'stepId', message: `no ${this.agent} step ${id.stepId} in task ${id.taskId}` }]);
        return;
      case 'finished':
        // A redelivery of a step that already finished: never run it again, just make
        // sure the orchestrator has heard about it.
        await this.publishResult(dispatch, claim.dispatchSeq, claim.status === 'completed' ? 'completed' : 'failed', claim.error ?? undefined, message, log);
        return;
      case 'busy':
        // Another delivery holds the lease: look again soon (backing off), at the latest when the lease lapses.
        log.info({ delivery: message.deliveryCount }, 'step is running under another delivery; looking again later');
        message.nak(Math.min(claim.retryInMs, BUSY_RETRY_MS * 2 ** Math.min(message.deliveryCount - 1, 5), this.config.STEP_ACK_WAIT_MS));
        return;
      case 'stopped':
        message.ack();
        return;
      case 'exhausted': {
        const error: StepError = { code: 'DEAD_LETTERED', message: `The step was interrupted on every one of its ${this.config.STEP_MAX_ATTEMPTS} attempts.`, retryable: true };
        log.error({ attempts: claim.attempts }, 'step dead-lettered: every attempt was interrupted');
        await this.endAndReport(delivery, claim.dispatchSeq, null, { type: 'dead_lettered', error });
        return;
      }
      case 'claimed':
        if (claim.step.interruptedAttempt) log.warn({ interruptedAttempt: claim.step.interruptedAttempt }, 'taking over a step whose previous attempt was interrupted');
        await this.run({ ...delivery, step: claim.step }, shutdown);
    }
  }

  /**
   * Runs the handler on the dispatch's `input` before the step is claimed; its first model
   * call claims the step (FirstCallClaim). False when the step was not claimed so: nothing
   * was written, and the delivery goes on to claim it the usual way.
   */
  private runClaimingInFirstCall(delivery: Delivery, input: Record<string, unknown>, shutdown: AbortSignal): Promise<boolean> {
    const { dispatch } = delivery;
    // What the step is known to be before its row is read; the claim brings the rest.
    const unclaimed: ClaimedStep = { key: '', kind: dispatch.kind, attempt: 1, attemptsUsed: 1, dispatchSeq: 0, input, deadlineAt: null };
    const terms = { owner: delivery.owner, leaseMs: this.config.STEP_ACK_WAIT_MS, agent: this.agent, input: JSON.stringify(input) };
    return this.run({ ...delivery, step: unclaimed }, shutdown, new FirstCallClaim(terms, input));
  }

  /**
   * `step.started` for watchers, published once the attempt's next request (a model call's
   * reservation, or the call itself when the reservation claimed the step) is on its way:
   * that request is on the step's critical path, the event is not. setImmediate runs before
   * this process handles any further I/O, so the event still goes out before anything the
   * attempt ends with, which needs at least one more round trip.
   */
  private announceStart(id: StepIdentity, dispatch: StepDispatch, step: ClaimedStep): void {
    setImmediate(() =>
      publishTaskEvent(this.nats, { taskId: id.taskId, event: 'step.started', stepId: id.stepId, key: step.key, kind: dispatch.kind, status: 'running', sequence: step.attempt }),
    );
  }

  /**
   * Runs the claimed step's attempt: its handler under heartbeats, its deadline and the
   * task's stop notice, then its end. With `claim`, `attempt.step` is not claimed yet: the
   * handler's first model call claims it (the lease, the deadline and the start
   * announcement begin then), and false means it did not: the run is dropped, nothing
   * settled, for the caller to claim the step the usual way.
   */
  private async run(attempt: Attempt, shutdown: AbortSignal, claim?: FirstCallClaim): Promise<boolean> {
    const { id, message, log } = attempt;
    const stop = new AbortController();
    const signal = AbortSignal.any([shutdown, stop.signal]);
    const unwatch = this.stops.watch(id.taskId, stop);
    let deadline: NodeJS.Timeout | undefined;
    const begin = (step: ClaimedStep) => {
      this.announceStart(id, attempt.dispatch, step);
      const untilDeadline = step.deadlineAt ? step.deadlineAt.getTime() - Date.now() : undefined;
      if (untilDeadline !== undefined) deadline = setTimeout(() => stop.abort(new TaskStopped('timed_out')), Math.max(0, untilDeadline));
    };
    if (claim) void claim.whenClaimed.then(begin);
    else begin(attempt.step);
    /** The attempt as claimed; undefined while (or if never) claimed by the first model call. */
    const claimed = (): Attempt | undefined => (!claim ? attempt : claim.step ? { ...attempt, step: claim.step } : undefined);
    const heartbeat = setInterval(() => {
      message.working();
      if (!claimed()) return; // no lease to renew yet
      this.store.renewLease(id.stepId, attempt.owner, this.config.STEP_ACK_WAIT_MS).then(
        (held) => held || stop.abort(new LeaseLost('another delivery took the step over')),
        () => undefined /* the database is away; the lease still runs, retried next beat */,
      );
    }, this.config.STEP_ACK_WAIT_MS / HEARTBEAT_DIVISOR);
    const started = performance.now();
    // Which model served each call, and why others did not (fallbacks): kept in the step's metadata.
    const modelCalls: ModelCallSummary[] = [];
    // Successful calls not settled yet: the completion writes them (see ModelCallScope.unsettled).
    const unsettled: Settlement[] = [];
    try {
      const output = await this.runHandler(attempt, signal, modelCalls, unsettled, claim);
      const ours = claimed();
      // No model call claimed the step (the handler made none): nothing was written.
      if (!ours) return false;
      crashPoint('agent:after-handler');
      await this.endAndReport(ours, ours.step.dispatchSeq, attempt.owner, { type: 'completed', output, metadata: { modelCalls }, settlements: unsettled.splice(0) });
    } catch (error) {
      const ours = claimed();
      // Failed before its first model call claimed the step (NotClaimedByFirstCall among others): nothing was written.
      if (!ours) return false;
      await this.settleApart(unsettled.splice(0), attempt.log);
      await this.endFailedAttempt(ours, error, signal, shutdown, { modelCalls });
    } finally {
      clearInterval(heartbeat);
      clearTimeout(deadline);
      unwatch();
      claim?.close();
      if (claimed()) {
        this.metrics.stepDuration.observe({ agent: this.agent, kind: attempt.dispatch.kind }, (performance.now() - started) / 1000);
        if (!message.settled) log.warn('attempt ended without settling its message');
      }
    }
    return true;
  }

  private async endFailedAttempt(attempt: Attempt, error: unknown, signal: AbortSignal, shutdown: AbortSignal, metadata: StepMetadata): Promise<void> {
    const { message, log, step } = attempt;
    if (signal.aborted && !shutdown.aborted) {
      // Told to stop: the task is over, or another delivery owns the step now.
      const reason = signal.reason as Error;
      log.info({ reason: reason.message }, 'step stopped');
      message.ack();
      return;
    }
    if (shutdown.aborted) {
      // Shutting down: hand the step to another replica now, not after the ack wait. It is
      // not the step's fault, so the attempt does not count against its bound.
      await this.handBack(attempt, 0);
      return;
    }
    if (error instanceof ModelsUnavailable) {
      // Every model it could use has an open breaker: not the step's fault either. The
      // consumer pauses meanwhile; the step is taken again once a breaker half-opens.
      log.warn({ retryInMs: error.retryInMs }, 'no model available (circuit breakers open); step handed back');
      await this.handBack(attempt, error.retryInMs);
      return;
    }
    const failure = toStepError(error);
    const attemptsLeft = step.attemptsUsed < this.config.STEP_MAX_ATTEMPTS;
    if (failure.retryable && attemptsLeft) {
      log.warn({ err: error, attempt: step.attempt, code: failure.code }, 'step attempt failed; will be retried');
      const written = await this.persist(attempt, () => this.store.endAttempt(attempt.id, this.agent, attempt.owner, { type: 'released', error: failure }));
      if (!written) return;
      this.metrics.steps.inc({ agent: this.agent, outcome: 'retried' });
      const backoff = this.config.STEP_RETRY_BACKOFF_MS;
      message.nak(backoff[Math.min(step.attemptsUsed - 1, backoff.length - 1)]);
      return;
    }
    const end: AttemptEnd = failure.retryable ? { type: 'dead_lettered', error: failure, metadata } : { type: 'failed', error: failure, metadata };
    log.error({ err: error, code: failure.code, attempt: step.attempt }, end.type === 'dead_lettered' ? 'step dead-lettered: no attempts left' : 'step failed');
    await this.endAndReport(attempt, step.dispatchSeq, attempt.owner, end);
  }

  /** Back to `queued` without using up an attempt, for another delivery after `delayMs`. */
  private async handBack(attempt: Attempt, delayMs: number): Promise<void> {
    const written = await this.persist(attempt, () => this.store.endAttempt(attempt.id, this.agent, attempt.owner, { type: 'handed_back' }));
    if (written) attempt.message.nak(delayMs);
  }

  /** Writes how the attempt ended, then tells the orchestrator and settles the message. */
  private async endAndReport(delivery: Delivery, dispatchSeq: number, owner: string | null, end: AttemptEnd): Promise<void> {
    const { dispatch, message, log } = delivery;
    const settlements = carriedSettlements(end);
    const result = await this.persist(delivery, () => this.store.endAttempt(delivery.id, this.agent, owner, end));
    if (!result) {
      // The end was not written, so neither were the calls it carried: they were made, so they are settled on their own.
      await this.settleApart(settlements, log);
      return;
    }
    this.models.warnOnOverruns(settlements, result.settled);
    if (!result.applied) {
      // Someone else finished or stopped the step meanwhile; their outcome stands.
      log.warn({ end: end.type }, 'step was no longer ours to end');
      message.ack();
      return;
    }
    this.metrics.steps.inc({ agent: this.agent, outcome: end.type });
    if (end.type === 'dead_lettered') this.metrics.deadLetters.inc({ agent: this.agent });
    if (end.type === 'completed') log.debug('step completed');
    crashPoint('agent:after-step-end');
    if (end.type === 'completed') await this.publishResult(dispatch, dispatchSeq, 'completed', undefined, message, log, end.output);
    else await this.publishResult(dispatch, dispatchSeq, 'failed', end.type === 'failed' || end.type === 'dead_lettered' ? end.error : undefined, message, log);
  }

  /**
   * The final write of an attempt, retried while Postgres is unreachable (heartbeats keep
   * the message ours meanwhile; a lapsed lease only lets a duplicate delivery take over,
   * and the lease fence then refuses this write) so a finished call is not run again just
   * because the database restarted. Undefined when it could not be written: the message
   * goes back for a later delivery.
   */
  private async persist<T>(attempt: Delivery, write: () => Promise<T>): Promise<T | undefined> {
    const giveUpAt = Date.now() + PERSIST_RETRY_BUDGET_MS;
    for (let pause = 250; ; pause = Math.min(pause * 2, 2_000)) {
      try {
        return await write();
      } catch (error) {
        if (!isDatabaseUnavailable(error) || Date.now() + pause > giveUpAt) {
          attempt.log.error({ err: error }, 'could not record the end of the attempt; the step will be delivered again');
          attempt.message.nak(UNAVAILABLE_NAK_MS.at(-1));
          return undefined;
        }
        await sleep(pause);
      }
    }
  }

  /** `output`: the completed step's output, when this delivery produced it (see StepResultPublisher.publish). */
  private async publishResult(
    dispatch: StepDispatch,
    dispatchSeq: number,
    status: 'completed' | 'failed',
    error: StepError | undefined,
    message: InboundMessage,
    log: Logger,
    output?: unknown,
  ): Promise<void> {
    try {
      await this.results.publish(dispatch, dispatchSeq, status, error, output);
      message.ack();
    } catch (publishError) {
      // The outcome is stored; a redelivery finds it finished and publishes again.
      log.warn({ err: publishError }, 'could not publish the step result; will retry');
      message.nak(RESULT_PUBLISH_RETRY_MS);
    }
  }

  /** Settles successful calls apart from the end of their attempt; failing that, the sweeper bills them at their reservation after its TTL. */
  private async settleApart(settlements: readonly Settlement[], log: Logger): Promise<void> {
    if (settlements.length === 0) return;
    await this.models.settleAll(settlements).catch((error: unknown) => {
      log.error({ err: error, attemptIds: settlements.map((settlement) => settlement.attemptId) }, 'could not settle model calls; the sweeper will bill them at their reservation');
    });
  }

  private giveBackUnstarted(message: InboundMessage, error: unknown, log: Logger): void {
    log.warn({ err: error, delivery: message.deliveryCount }, isDatabaseUnavailable(error) ? 'database unreachable; step handed back' : 'claiming the step failed; handed back');
    message.nak(UNAVAILABLE_NAK_MS[Math.min(message.deliveryCount - 1, UNAVAILABLE_NAK_MS.length - 1)]);
  }

  /** Terminated AND recorded (audit `message.rejected`); if it cannot be recorded yet, it comes back later. */
  private async reject(message: InboundMessage, reason: string, issues: RejectionIssue[]): Promise<void> {
    const details = describeRejection(message, agentStream(this.agent).stream, reason, issues);
    try {
      await this.store.recordRejected(this.agent, details);
    } catch (error) {
      this.giveBackUnstarted(message, error, this.logger);
      return;
    }
    this.logger.error(details, 'step message rejected and terminated');
    message.term(reason);
  }

  private runHandler(attempt: Attempt, signal: AbortSignal, modelCalls: ModelCallSummary[], unsettled: Settlement[], claim: FirstCallClaim | undefined): Promise<Record<string, unknown>> {
    const { dispatch, id, step, log } = attempt;
    const handler = this.definition.handlers[dispatch.kind];
    if (!handler) return Promise.reject(new StepFailure('HANDLER_ERROR', `agent ${this.agent} has no handler for ${dispatch.kind}`, false));
    let callIndex = 0;
    const context: StepContext = {
      agent: this.agent,
      kind: dispatch.kind,
      taskId: id.taskId,
      stepId: id.stepId,
      tenantId: id.tenantId,
      attempt: step.attempt,
      input: step.input,
      signal,
      logger: log,
      complete: async (request) => {
        const { reply, summary } = await this.models.call({ id, kind: dispatch.kind, attempt: step.attempt, callIndex: ++callIndex, unsettled, ...(claim ? { claim } : {}) }, request, signal);
        modelCalls.push(summary);
        return reply;
      },
    };
    return handler(context);
  }
}
