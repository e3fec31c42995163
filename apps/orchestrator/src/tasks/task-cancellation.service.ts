import { Injectable } from '@nestjs/common';
import { PrismaService } from '@atelier/persistence';
import { type Caller, isAdmin } from '../auth/caller';
import { TaskTerminator } from '../coordinator/task-terminator';
import { Problem } from '../http/problem';
import { TaskQueriesService } from './task-queries.service';
import type { TaskView } from './task-view';

/** `POST /v1/tasks/{id}/cancel`: stops the task wherever it runs; cancelling a cancelled task is a no-op. */
@Injectable()
export class TaskCancellationService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly terminator: TaskTerminator,
    private readonly queries: TaskQueriesService,
  ) {}

  async cancel(caller: Caller, id: string, context: { requestId: string; traceId: string }): Promise<TaskView> {
    const visible = await this.prisma.task.findFirst({ where: { id, ...(isAdmin(caller) ? {} : { tenantId: caller.tenantId }) }, select: { id: true } });
    if (!visible) throw Problem.notFound(`No task ${id}.`);
    const outcome = await this.terminator.stop(id, { status: 'cancelled', actor: caller.actor, requestId: context.requestId, traceId: context.traceId });
    if (outcome.type === 'missing') throw Problem.notFound(`No task ${id}.`);
    if (outcome.type === 'already-finished' && outcome.status !== 'cancelled') {
      throw Problem.conflict(`The task has already finished (${outcome.status}); there is nothing to cancel.`);
    }
    return this.queries.get(caller, id);
  }
}
