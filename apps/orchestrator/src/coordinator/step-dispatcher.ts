import { Injectable } from '@nestjs/common';
import { HEADERS, messageIds, SUBJECTS, type AgentName, type StepDispatch, type StepKind } from '@atelier/contracts';
import { JetStreamClient } from '@atelier/messaging';
import { PrismaService } from '@atelier/persistence';
import { childSpan, formatTraceparent, type TraceContext } from '@atelier/observability';

export interface DispatchableStep {
  id: string;
  taskId: string;
  tenantId: string;
  kind: string;
  agent: string;
}

/**
 * Publishes committed steps to their agent's stream, then marks them dispatched (one
 * UPDATE per batch) so the relay leaves them alone. Called after the transaction that
 * created them commits; the broker de-duplicates on `<stepId>:1`, so a second publish of
 * the same step (retry, relay, crash before the mark) is harmless.
 */
@Injectable()
export class StepDispatcher {
  constructor(
    private readonly nats: JetStreamClient,
    private readonly prisma: PrismaService,
  ) {}

  async dispatch(steps: readonly DispatchableStep[], trace: TraceContext): Promise<void> {
    if (steps.length === 0) return;
    await Promise.all(
      steps.map((step) => {
        const message: StepDispatch = {
          type: 'step.dispatch',
          version: 1,
          taskId: step.taskId,
          stepId: step.id,
          tenantId: step.tenantId,
          kind: step.kind as StepKind,
          agent: step.agent as AgentName,
        };
        return this.nats.publishJson(SUBJECTS.agentSteps(message.agent), message, {
          msgId: messageIds.dispatch(step.id, 1),
          headers: { [HEADERS.traceparent]: formatTraceparent(childSpan(trace)), [HEADERS.tenant]: step.tenantId },
        });
      }),
    );
    await this.prisma.step.updateMany({ where: { id: { in: steps.map((step) => step.id) }, dispatchedAt: null }, data: { dispatchedAt: new Date() } });
  }
}
