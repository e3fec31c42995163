import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { TERMINAL_TASK_STATUSES, type TaskStatus } from '@atelier/contracts';
import type { AuditEventInput } from '@atelier/persistence';
import { partialResult } from '../workflows/partial-result';
import { planNext } from '../workflows/workflow-planner';
import { workflowNamed } from '../workflows/workflow-registry';
import type { DispatchableStep } from './step-dispatcher';
import { taskPlannedEvent } from './task-planned-event';
import { type TaskSnapshot, TaskStore, type StepToInsert } from './task-store';

const ACTOR = 'service:orchestrator' as const;
/** A version conflict means another replica advanced the task a moment ago; one more look settles it. */
const MAX_CONFLICTS = 8;

export class TaskConflictError extends Error {
  override readonly name = 'TaskConflictError';
}

export interface Advance {
  /** The task as read by the advance that settled it (undefined when the task does not exist). */
  task?: TaskSnapshot;
  /** Steps to publish: the new ones, and any earlier ones whose publication was never confirmed. */
  toDispatch: DispatchableStep[];
  /** Set when this advance ended the task: how, and the task version its end wrote. */
  finished?: { status: Exclude<TaskStatus, 'queued' | 'running'>; version: number };
}

/**
 * Moves a task forward from the step rows in Postgres, never from message payloads, so a
 * replayed or reordered result is harmless. Read, plan (pure), then one version-checked
 * write: when several orchestrator replicas handle results of the same task at once, only
 * one write lands per version, so the join fires once; the others look again.
 */
@Injectable()
export class TaskAdvancer {
  constructor(private readonly store: TaskStore) {}

  async advance(taskId: string, traceId: string | undefined): Promise<Advance> {
    for (let conflicts = 0; conflicts < MAX_CONFLICTS; conflicts++) {
      const task = await this.store.load(taskId);
      if (!task) return { toDispatch: [] };
      if (TERMINAL_TASK_STATUSES.includes(task.status)) return { task, toDispatch: [] };
      const outcome = await this.advanceOnce(task, traceId ?? task.traceId);
      if (outcome) return outcome;
    }
    throw new TaskConflictError(`task ${taskId} kept changing while being advanced`);
  }

  /** Undefined on a version conflict. */
  private async advanceOnce(task: TaskSnapshot, traceId: string | null): Promise<Advance | undefined> {
    const common = { actor: ACTOR, tenantId: task.tenantId, taskId: task.id, traceId } as const;
    const plan = planNext(workflowNamed(task.workflow), task.input, task.steps);
    const unconfirmed = task.steps.filter((step) => step.status === 'queued' && !step.dispatched).map((step) => dispatchable(task, step));

    if (plan.type === 'continue') {
      if (plan.newSteps.length === 0) return { task, toDispatch: unconfirmed };
      const steps: StepToInsert[] = plan.newSteps.map((step) => ({ ...step, id: randomUUID() }));
      const audit: AuditEventInput[] = steps.map((step) => ({
        ...common,
        action: 'step.queued',
        subject: `step:${step.id}`,
        data: { key: step.key, kind: step.kind, agent: step.agent, dependsOn: step.dependsOn },
      }));
      const planned = taskPlannedEvent(task.steps, steps, common);
      if (planned) audit.unshift(planned);
      if (!(await this.store.insertSteps(task, steps, audit))) return undefined;
      return { task, toDispatch: [...unconfirmed, ...steps.map((step) => dispatchable(task, { ...step, dispatchSeq: 1 }))] };
    }

    if (plan.type === 'complete') {
      const partial = plan.toleratedFailures.length > 0;
      const ended = await this.store.end(task, {
        status: 'completed',
        // A completion that tolerated failed branches says so in its result too, naming them.
        result: { document: plan.document, ...(partial ? { partial, failedSteps: plan.toleratedFailures } : {}) },
        error: undefined,
        audit: {
          ...common,
          action: 'task.completed',
          subject: `task:${task.id}`,
          // A completion that tolerated failed branches is recorded as partial.
          data: { documentLength: plan.document.length, partial, ...(partial ? { failedSteps: plan.toleratedFailures } : {}) },
        },
      });
      return ended ? { task, toDispatch: [], finished: { status: 'completed', version: task.version + 1 } } : undefined;
    }

    const error =
      plan.status === 'budget_exceeded' ?
        { code: 'BUDGET_EXCEEDED', step: plan.failedStep, message: readableMessage(plan.error) }
      : { code: 'STEP_FAILED', step: plan.failedStep, message: `Step ${plan.failedStep} failed: ${readableMessage(plan.error, 'no reason was recorded.')}`, cause: plan.error ?? null };
    const ended = await this.store.end(task, {
      status: plan.status,
      result: partialResult(task.steps),
      error,
      audit: { ...common, action: 'task.failed', subject: `task:${task.id}`, data: { status: plan.status, ...error } },
    });
    return ended ? { task, toDispatch: [], finished: { status: plan.status, version: task.version + 1 } } : undefined;
  }
}

function dispatchable(task: TaskSnapshot, step: { id: string; kind: string; agent: string; dispatchSeq: number }): DispatchableStep {
  return { id: step.id, taskId: task.id, tenantId: task.tenantId, kind: step.kind, agent: step.agent, dispatchSeq: step.dispatchSeq };
}

/** The step error's own explanation (a budget's limit and spend, the models that failed and why), as the agent wrote it. */
function readableMessage(error: unknown, fallback = 'A spend budget does not allow this step.'): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : fallback;
}
