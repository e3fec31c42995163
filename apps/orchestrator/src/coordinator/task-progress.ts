import { Injectable } from '@nestjs/common';
import { JetStreamClient, publishTaskEvent } from '@atelier/messaging';
import { activeTraceIds, crashPoint } from '@atelier/observability';
import { StepDispatcher } from './step-dispatcher';
import { type Advance, type CompletionReport, TaskAdvancer } from './task-advancer.service';
import { TaskTerminator } from './task-terminator';

/**
 * Moves a task on and tells everyone who must know, in this order: the progress event of
 * the step whose result prompted it, `task.finished` and the agents' stop notice when the
 * advance ended the task, then the steps that became ready. The database write comes
 * first; a crash before the publishes is made good by the redelivered result (or, for a
 * lost one, the relay's safety net), the relay and the SSE stream's look at the rows.
 */
@Injectable()
export class TaskProgress {
  constructor(
    private readonly advancer: TaskAdvancer,
    private readonly dispatcher: StepDispatcher,
    private readonly terminator: TaskTerminator,
    private readonly nats: JetStreamClient,
  ) {}

  /**
   * `resultOf`: the step whose result is being handled, if any; `report`: that result's
   * completion with the step's output, when it carries one. Messages carry the active trace.
   */
  async advance(taskId: string, resultOf?: string, report?: CompletionReport): Promise<Advance> {
    const advance = await this.advancer.advance(taskId, activeTraceIds()?.traceId, report);
    crashPoint('orchestrator:after-advance');
    const step = resultOf ? advance.task?.steps.find((candidate) => candidate.id === resultOf) : undefined;
    if (step && (step.status === 'completed' || step.status === 'failed' || step.status === 'dead_lettered')) {
      const event = step.status === 'completed' ? 'step.completed' : 'step.failed';
      publishTaskEvent(this.nats, { taskId, event, stepId: step.id, key: step.key, kind: step.kind, status: step.status, sequence: step.dispatchSeq });
    }
    if (advance.finished) await this.terminator.announce(taskId, advance.finished.status, advance.finished.version);
    await this.dispatcher.dispatch(advance.toDispatch);
    return advance;
  }
}
