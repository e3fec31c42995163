import { Inject, Injectable } from '@nestjs/common';
import { agentConsumer, HEADERS, StepDispatchV1, type AgentName, type StepDispatch, type StepError } from '@atelier/contracts';
import { LlmCallError, UnknownModelError } from '@atelier/llm';
import type { InboundMessage } from '@atelier/messaging';
import { LOGGER, type Logger, traceFrom } from '@atelier/observability';
import { type Step, stepStatusToApi } from '@atelier/persistence';
import type { AgentDefinition } from './agent-definition';
import { ModelCaller } from './model-caller';
import { type StepContext, StepFailure } from './step-handler';
import { StepResultPublisher } from './step-result-publisher';
import { type StepIdentity, StepStore } from './step-store';
import { AGENT_DEFINITION } from './tokens';

/** How often a running step tells JetStream it is alive: well inside ack_wait. */
const HEARTBEAT_DIVISOR = 3;

/**
 * One delivery of one step message, start to finish: validate, claim, run the handler,
 * store the outcome, publish the result, settle the message. Delivery is at-least-once;
 * the step row makes execution effectively-once.
 */
@Injectable()
export class StepExecutor {
  private readonly agent: AgentName;
  private readonly consumer;

  constructor(
    @Inject(AGENT_DEFINITION) private readonly definition: AgentDefinition,
    private readonly store: StepStore,
    private readonly models: ModelCaller,
    private readonly results: StepResultPublisher,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.agent = definition.agent;
    this.consumer = agentConsumer(definition.agent);
  }

  async execute(message: InboundMessage, signal: AbortSignal): Promise<void> {
    const parsed = StepDispatchV1.safeParse(message.data);
    if (!parsed.success || parsed.data.agent !== this.agent) {
      this.logger.error({ subject: message.subject, issues: parsed.error?.issues.slice(0, 5) }, 'invalid step message terminated');
      message.term('invalid step.dispatch message');
      return;
    }
    const dispatch = parsed.data;
    const trace = traceFrom(message.header(HEADERS.traceparent));
    const id: StepIdentity = { taskId: dispatch.taskId, stepId: dispatch.stepId, tenantId: dispatch.tenantId, traceId: trace.traceId };
    const log = this.logger.child({ taskId: id.taskId, stepId: id.stepId, kind: dispatch.kind, traceId: trace.traceId, spanId: trace.spanId });

    const claim = await this.store.claim(id, this.agent);
    if (claim.type === 'missing') {
      log.error('step message for an unknown step terminated');
      message.term('unknown step');
      return;
    }
    if (claim.type === 'finished') {
      // A redelivery of a step that already finished: never run it again, just make
      // sure the orchestrator has heard about it.
      const completed = stepStatusToApi(claim.step.status) === 'completed';
      await this.results.publish(dispatch, trace, completed ? 'completed' : 'failed', (claim.step.error ?? undefined) as StepError | undefined);
      message.ack();
      return;
    }

    const heartbeat = setInterval(() => message.working(), this.consumer.ackWaitMs / HEARTBEAT_DIVISOR);
    try {
      const output = await this.runHandler(dispatch, claim.step, id, signal, log);
      const completed = await this.store.complete(id, this.agent, output);
      if (completed) log.info({ attempt: claim.step.attempt }, 'step completed');
      await this.results.publish(dispatch, trace, 'completed');
      message.ack();
    } catch (error) {
      if (signal.aborted) {
        // Shutting down: hand the step to another replica now, not after a back-off.
        message.nak(0);
        return;
      }
      const failure = toStepError(error);
      const lastDelivery = message.deliveryCount >= this.consumer.maxDeliver;
      if (failure.retryable && !lastDelivery) {
        log.warn({ err: error, delivery: message.deliveryCount }, 'step attempt failed; will be redelivered');
        message.nak(this.consumer.backoffMs[Math.min(message.deliveryCount - 1, this.consumer.backoffMs.length - 1)]);
        return;
      }
      log.error({ err: error, code: failure.code }, 'step failed');
      await this.store.fail(id, this.agent, failure);
      await this.results.publish(dispatch, trace, 'failed', failure);
      message.ack();
    } finally {
      clearInterval(heartbeat);
    }
  }

  private runHandler(dispatch: StepDispatch, step: Step, id: StepIdentity, signal: AbortSignal, logger: Logger) {
    const handler = this.definition.handlers[dispatch.kind];
    if (!handler) throw new StepFailure('HANDLER_ERROR', `agent ${this.agent} has no handler for ${dispatch.kind}`, false);
    let callIndex = 0;
    const context: StepContext = {
      agent: this.agent,
      kind: dispatch.kind,
      taskId: id.taskId,
      stepId: id.stepId,
      tenantId: id.tenantId,
      attempt: step.attempt,
      input: step.input as Record<string, unknown>,
      signal,
      logger,
      complete: (request) => this.models.call({ id, kind: dispatch.kind, attempt: step.attempt, callIndex: ++callIndex }, request, signal),
    };
    return handler(context);
  }
}

function toStepError(error: unknown): StepError {
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
