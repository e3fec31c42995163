import { Injectable } from '@nestjs/common';
import type { ListDeadLettersQuery } from '@atelier/contracts';
import { appendAudit, PrismaService, StepStatus, TaskStatus } from '@atelier/persistence';
import type { Caller } from '../auth/caller';
import type { DispatchableStep } from '../coordinator/step-dispatcher';
import { StepDispatcher } from '../coordinator/step-dispatcher';
import { Problem } from '../http/problem';
import { decodeCursor, encodeCursor } from '../http/keyset-cursor';
import type { TraceIds } from '@atelier/observability';

export interface DeadLetterView {
  stepId: string;
  taskId: string;
  tenant: string;
  kind: string;
  agent: string;
  attempts: number;
  error: unknown;
  deadLetteredAt: string;
}

/** Tasks a replay can bring back: still going, or ended by a failure the replay may fix. */
const REVIVABLE: readonly TaskStatus[] = [TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.FAILED, TaskStatus.BUDGET_EXCEEDED];

@Injectable()
export class DeadLettersService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly dispatcher: StepDispatcher,
  ) {}

  /** Newest first, keyset pagination on (deadLetteredAt, id). */
  async list(query: ListDeadLettersQuery): Promise<{ items: DeadLetterView[]; nextCursor: string | null }> {
    const cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
    const rows = await this.prisma.step.findMany({
      where: {
        status: StepStatus.DEAD_LETTERED,
        ...(cursor ? { OR: [{ deadLetteredAt: { lt: new Date(cursor.at) } }, { deadLetteredAt: new Date(cursor.at), id: { lt: cursor.id } }] } : {}),
      },
      orderBy: [{ deadLetteredAt: 'desc' }, { id: 'desc' }],
      take: query.limit + 1,
      include: { task: { select: { tenant: { select: { name: true } } } } },
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      items: page.map((step) => ({
        stepId: step.id,
        taskId: step.taskId,
        tenant: step.task.tenant.name,
        kind: step.kind,
        agent: step.agent,
        attempts: step.attempt,
        error: step.error,
        deadLetteredAt: (step.deadLetteredAt ?? step.updatedAt).toISOString(),
      })),
      nextCursor: rows.length > query.limit && last ? encodeCursor({ at: (last.deadLetteredAt ?? last.updatedAt).toISOString(), id: last.id }) : null,
    };
  }

  /**
   * Re-queues a dead-lettered step with a fresh budget of attempts and a new message id
   * (`<stepId>:<n+1>`, so the broker does not drop it as a duplicate). A task the dead
   * letter had failed is running again, and the steps its failure cancelled are
   * re-queued too. One transaction, audit `step.replayed`; published after commit.
   *
   * A dead letter the workflow tolerated and went on without (later steps depend on it,
   * e.g. the draft joined the other investigations) is refused with 409: its output
   * could change nothing, and a task running on would find a finished join re-opened.
   * Locks: the task row before the step's, the order of every statement that locks both.
   */
  async replay(caller: Caller, stepId: string, context: { requestId: string; trace: TraceIds }): Promise<{ stepId: string; taskId: string; status: 'queued'; taskStatus: 'running' | 'queued' }> {
    const { requeued, taskId, taskStatus } = await this.prisma.$transaction(async (tx) => {
      const [owner] = await tx.$queryRaw<{ task_id: string }[]>`SELECT task_id FROM steps WHERE id = ${stepId}::uuid`;
      if (!owner) throw Problem.notFound(`No step ${stepId}.`);
      const [task] = await tx.$queryRaw<{ tenant_id: string; status: string; trace_id: string | null }[]>`SELECT tenant_id, status::text, trace_id FROM tasks WHERE id = ${owner.task_id}::uuid FOR UPDATE`;
      const [step] = await tx.$queryRaw<{ id: string; task_id: string; key: string; status: string }[]>`SELECT id, task_id, key, status::text FROM steps WHERE id = ${stepId}::uuid FOR UPDATE`;
      if (!task || !step) throw Problem.notFound(`No step ${stepId}.`);
      if (step.status !== 'dead_lettered') throw Problem.conflict(`Step ${stepId} is ${step.status}, not dead-lettered; only dead letters can be replayed.`);
      if (!REVIVABLE.map((status) => status.toLowerCase()).includes(task.status)) {
        throw Problem.conflict(`The step's task is ${task.status}; a replay cannot bring it back.`);
      }
      const dependents = await tx.$queryRaw<{ key: string }[]>`SELECT key FROM steps WHERE task_id = ${step.task_id}::uuid AND ${step.key} = ANY(depends_on) ORDER BY key`;
      if (dependents.length > 0) {
        throw Problem.conflict(
          `Step ${step.key} failed and its workflow went on without it (${dependents.map((row) => row.key).join(', ')} ran on what the other steps produced); replaying it cannot change the result.`,
        );
      }
      const revive = task.status === 'failed' || task.status === 'budget_exceeded';
      const requeued = await tx.$queryRaw<(Omit<DispatchableStep, 'tenantId'> & { key: string })[]>`
        UPDATE steps SET status = 'queued', error = NULL, completed_at = NULL, dead_lettered_at = NULL, lease_owner = NULL, lease_until = NULL,
               attempt_base = attempt, dispatch_seq = dispatch_seq + 1, dispatched_at = NULL, queued_at = now(), updated_at = now()
        WHERE task_id = ${step.task_id}::uuid AND (id = ${stepId}::uuid OR (${revive} AND status = 'cancelled'))
        RETURNING id, task_id AS "taskId", key, kind, agent, dispatch_seq AS "dispatchSeq"`;
      await tx.$executeRaw`
        UPDATE tasks SET version = version + 1, updated_at = now(),
               status = CASE WHEN ${revive} THEN 'running'::task_status ELSE status END,
               error = CASE WHEN ${revive} THEN NULL ELSE error END, result = CASE WHEN ${revive} THEN NULL ELSE result END,
               completed_at = CASE WHEN ${revive} THEN NULL ELSE completed_at END
        WHERE id = ${step.task_id}::uuid`;
      await appendAudit(tx, {
        action: 'step.replayed',
        actor: caller.actor,
        subject: `step:${stepId}`,
        tenantId: task.tenant_id,
        taskId: step.task_id,
        traceId: context.trace.traceId,
        requestId: context.requestId,
        data: { requeuedSteps: requeued.map((row) => row.key).sort(), taskRevived: revive },
      });
      return { requeued: requeued.map((row) => ({ ...row, tenantId: task.tenant_id })), taskId: step.task_id, taskStatus: revive || task.status === 'running' ? ('running' as const) : ('queued' as const) };
    });
    await this.dispatcher.dispatch(requeued).catch(() => undefined /* the relay publishes them */);
    return { stepId, taskId, status: 'queued', taskStatus };
  }
}
