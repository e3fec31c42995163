import { Injectable } from '@nestjs/common';
import { HEADERS, messageIds, SUBJECTS, type StepDispatch, type StepError, type StepResult } from '@atelier/contracts';
import { JetStreamClient } from '@atelier/messaging';

/**
 * Tells the orchestrator a step finished. The message id (step, dispatch, outcome) makes a
 * second publish of the same outcome a no-op, while the outcome of a replayed dead letter
 * (a new dispatch) always gets through.
 */
@Injectable()
export class StepResultPublisher {
  constructor(private readonly nats: JetStreamClient) {}

  async publish(dispatch: StepDispatch, dispatchSeq: number, status: StepResult['status'], error?: StepError): Promise<void> {
    const result: StepResult = {
      type: 'step.result',
      version: 1,
      taskId: dispatch.taskId,
      stepId: dispatch.stepId,
      tenantId: dispatch.tenantId,
      status,
      ...(status === 'failed' && error ? { error } : {}),
    };
    await this.nats.publishJson(SUBJECTS.stepResults, result, {
      msgId: messageIds.result(dispatch.stepId, dispatchSeq, status),
      headers: { [HEADERS.tenant]: dispatch.tenantId },
    });
  }
}
