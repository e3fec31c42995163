import { Injectable } from '@nestjs/common';
import { fitsInMessage, HEADERS, messageIds, SUBJECTS, type AgentName, type StepDispatch, type StepKind } from '@atelier/contracts';
import { JetStreamClient } from '@atelier/messaging';
import { type DispatchMark, DispatchMarks } from './dispatch-marks';

export interface DispatchableStep {
  id: string;
  taskId: string;
  tenantId: string;
  kind: string;
  agent: string;
  /** The `<n>` of the message id `<stepId>:<n>` (steps.dispatch_seq). */
  dispatchSeq: number;
  /** The step's input as written to its row, when at hand: the message carries it if small (StepDispatchV1.input). */
  input?: Record<string, unknown>;
}

/**
 * Publishes committed steps to their agent's stream, then has them marked dispatched (and
 * where the broker stored each message) so the relay leaves them alone. Called after the
 * transaction that created them commits; the broker de-duplicates on `<stepId>:<n>`, so a
 * second publish of the same step (retry, relay, crash before the mark) is harmless. The
 * messages carry the active trace (the API request's, or the step result's that made
 * them ready).
 */
@Injectable()
export class StepDispatcher {
  constructor(
    private readonly nats: JetStreamClient,
    private readonly marks: DispatchMarks,
  ) {}

  async dispatch(steps: readonly DispatchableStep[]): Promise<void> {
    if (steps.length === 0) return;
    const marks = await Promise.all(
      steps.map(async (step): Promise<DispatchMark> => {
        const message: StepDispatch = {
          type: 'step.dispatch',
          version: 1,
          taskId: step.taskId,
          stepId: step.id,
          tenantId: step.tenantId,
          kind: step.kind as StepKind,
          agent: step.agent as AgentName,
          ...(step.input !== undefined && fitsInMessage(step.input) ? { input: step.input } : {}),
        };
        const ack = await this.nats.publishJson(SUBJECTS.agentSteps(message.agent), message, {
          msgId: messageIds.dispatch(step.id, step.dispatchSeq),
          headers: { [HEADERS.tenant]: step.tenantId },
        });
        // A duplicate's acknowledgement carries the sequence of the message first stored.
        return { stepId: step.id, dispatchSeq: step.dispatchSeq, streamSeq: ack.seq };
      }),
    );
    this.marks.mark(marks);
  }
}
