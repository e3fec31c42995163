import { Injectable } from '@nestjs/common';
import { appendAudit, Prisma, PrismaService, StepStatus, stepStatusToApi, TaskStatus, taskStatusToApi } from '@atelier/persistence';
import { partialResultOf } from './partial-result';
import type { DispatchableStep } from './step-dispatcher';
import { planNext } from '../workflows/workflow-planner';
import { workflowNamed } from '../workflows/workflow-registry';

const TERMINAL: readonly TaskStatus[] = [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.BUDGET_EXCEEDED, TaskStatus.TIMED_OUT];
const ACTOR = 'service:orchestrator' as const;

export interface Advance {
  /** Steps of the task still waiting to run: (re-)published after commit, de-duplicated by the broker. */
  toDispatch: DispatchableStep[];
  finished?: TaskStatus;
}

/**
 * Moves a task forward from the step rows in Postgres, never from message payloads, so a
 * replayed or reordered result is harmless. The task row is locked for the transaction:
 * several orchestrator replicas can receive results of the same task at once and only
 * one of them inserts the next steps or fires the join.
 */
@Injectable()
export class TaskAdvancer {
  constructor(private readonly prisma: PrismaService) {}

  advance(taskId: string, traceId: string | undefined): Promise<Advance> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT 1 FROM tasks WHERE id = ${taskId}::uuid FOR UPDATE`;
      const task = await tx.task.findUnique({ where: { id: taskId }, include: { steps: true } });
      if (!task || TERMINAL.includes(task.status)) return { toDispatch: [] };

      const common = { actor: ACTOR, tenantId: task.tenantId, taskId, traceId: traceId ?? task.traceId };
      const plan = planNext(
        workflowNamed(task.workflow),
        task.input as { goal: string },
        task.steps.map((step) => ({ key: step.key, status: stepStatusToApi(step.status), output: step.output, error: step.error })),
      );

      if (plan.type === 'complete') {
        await tx.task.update({
          where: { id: taskId },
          data: { status: TaskStatus.COMPLETED, result: { document: plan.document }, completedAt: new Date(), version: { increment: 1 } },
        });
        await appendAudit(tx, { ...common, action: 'task.completed', subject: `task:${taskId}`, data: { documentLength: plan.document.length } });
        return { toDispatch: [], finished: TaskStatus.COMPLETED };
      }

      if (plan.type === 'fail') {
        // A refused model call ends the task budget_exceeded (never retried); others fail it.
        const cause = (plan.error ?? null) as { code?: unknown; message?: unknown } | null;
        const overBudget = cause?.code === 'BUDGET_EXCEEDED';
        const status = overBudget ? TaskStatus.BUDGET_EXCEEDED : TaskStatus.FAILED;
        const error = overBudget
          ? { code: 'BUDGET_EXCEEDED', step: plan.failedStep, message: String(cause?.message ?? 'Budget exceeded.') }
          : { code: 'STEP_FAILED', step: plan.failedStep, cause: cause as Prisma.InputJsonValue };
        const result = partialResultOf(task.steps);
        await tx.task.update({
          where: { id: taskId },
          data: { status, error, ...(result ? { result: { ...result } } : {}), completedAt: new Date(), version: { increment: 1 } },
        });
        await tx.step.updateMany({ where: { taskId, status: StepStatus.QUEUED }, data: { status: StepStatus.CANCELLED } });
        await appendAudit(tx, { ...common, action: 'task.failed', subject: `task:${taskId}`, data: { ...error, status: taskStatusToApi(status) } });
        return { toDispatch: [], finished: status };
      }

      if (plan.newSteps.length > 0) {
        const inserted = await tx.step.createManyAndReturn({
          data: plan.newSteps.map((step) => ({ taskId, key: step.key, kind: step.kind, agent: step.agent, dependsOn: step.dependsOn, input: step.input as Prisma.InputJsonObject })),
          skipDuplicates: true,
        });
        await tx.task.update({ where: { id: taskId }, data: { version: { increment: 1 } } });
        await appendAudit(
          tx,
          ...inserted.map((step) => ({ ...common, action: 'step.queued' as const, subject: `step:${step.id}`, data: { key: step.key, kind: step.kind, agent: step.agent } })),
        );
      }
      const queued = await tx.step.findMany({ where: { taskId, status: StepStatus.QUEUED } });
      return { toDispatch: queued.map((step) => ({ id: step.id, taskId, tenantId: task.tenantId, kind: step.kind, agent: step.agent })) };
    });
  }
}
