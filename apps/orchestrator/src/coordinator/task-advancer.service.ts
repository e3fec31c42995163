import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { TERMINAL_TASK_STATUSES, type TaskStatus } from '@atelier/contracts';
import type { AuditEventInput } from '@atelier/persistence';
import { partialResult } from '../workflows/partial-result';
import { type Plan, planNext } from '../workflows/workflow-planner';
import { workflowNamed } from '../workflows/workflow-registry';
import type { DispatchableStep } from './step-dispatcher';
import { taskPlannedEvent } from './task-planned-event';
import { planningStage, queuedStep, TaskSnapshots } from './task-snapshots';
import { outputDigest, type PlanPremise, type StepSnapshot, type TaskSnapshot, TaskStore, type StepToInsert } from './task-store';

const ACTOR = 'service:orchestrator' as const;
/** A version conflict means another replica advanced the task a moment ago; one more look settles it. */
const MAX_CONFLICTS = 8;

export class TaskConflictError extends Error {
  override readonly name = 'TaskConflictError';
}

/** A step result that reports a completion with the step's output (StepResultV1.output). */
export interface CompletionReport {
  stepId: string;
  output: unknown;
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
 * Moves a task forward from the step rows in Postgres, so a replayed or reordered result
 * is harmless. Read, plan (pure), then one version-checked write: when several
 * orchestrator replicas handle results of the same task at once, only one write lands per
 * version, so the join fires once; the others look again.
 *
 * The read is skipped when this replica holds the task as it last wrote or read it and the
 * result reports a completion with its output: the plan is then made from that snapshot
 * with the output applied, and its write also checks the premise (the task's steps and
 * their stages as the snapshot has them, the reported output's digest in the step's row).
 * One round trip less per step; whatever that plan cannot settle (a premise that fails, a
 * plan that only waits or fails the task) is decided from the rows as before.
 */
@Injectable()
export class TaskAdvancer {
  constructor(
    private readonly store: TaskStore,
    private readonly snapshots: TaskSnapshots,
  ) {}

  /** `report`: the completion of a step of this task that prompted the advance, if any. */
  async advance(taskId: string, traceId: string | undefined, report?: CompletionReport): Promise<Advance> {
    const fromSnapshot = report ? await this.advanceFromSnapshot(taskId, traceId, report) : undefined;
    if (fromSnapshot) return fromSnapshot;
    for (let conflicts = 0; conflicts < MAX_CONFLICTS; conflicts++) {
      const task = await this.store.load(taskId);
      if (!task) return { toDispatch: [] };
      if (TERMINAL_TASK_STATUSES.includes(task.status)) {
        this.snapshots.forget(taskId);
        return { task, toDispatch: [] };
      }
      const unconfirmed = task.steps.filter((step) => step.status === 'queued' && !step.dispatched).map((step) => dispatchable(task, step));
      const outcome = await this.write(task, planNext(workflowNamed(task.workflow), task.input, task.steps), traceId ?? task.traceId, unconfirmed);
      if (outcome) return outcome;
    }
    throw new TaskConflictError(`task ${taskId} kept changing while being advanced`);
  }

  /**
   * Undefined when the snapshot cannot settle it: none kept, other steps still under way (a
   * fan-out's members but the last: their plans would mostly only wait), a plan that only
   * waits or fails, a premise that does not hold.
   */
  private async advanceFromSnapshot(taskId: string, traceId: string | undefined, report: CompletionReport): Promise<Advance | undefined> {
    const kept = this.snapshots.get(taskId);
    const reported = kept?.steps.find((step) => step.id === report.stepId.toLowerCase());
    // The reported step must be the task's only one under way (by the snapshot) and not yet ended in it.
    if (!kept || reported === undefined || kept.steps.some((step) => (planningStage(step.status) === 'active') !== (step === reported))) return undefined;
    const completed: StepSnapshot = { ...reported, status: 'completed', output: report.output, error: null, completedAt: new Date().toISOString() };
    const task: TaskSnapshot = { ...kept, steps: kept.steps.map((step) => (step === reported ? completed : step)) };
    const plan = planNext(workflowNamed(task.workflow), task.input, task.steps);
    if (plan.type === 'fail' || (plan.type === 'continue' && plan.newSteps.length === 0)) return undefined;
    const premise: PlanPremise = {
      steps: Object.fromEntries(task.steps.map((step) => [step.id, planningStage(step.status)])),
      reported: { id: reported.id, outputSha256: outputDigest(report.output) },
    };
    const outcome = await this.write(task, plan, traceId ?? task.traceId, [], premise);
    if (!outcome) this.snapshots.forget(taskId);
    return outcome;
  }

  /** Writes `plan`, made from `task` (and `premise`, if any); undefined when the task moved on meanwhile. */
  private async write(task: TaskSnapshot, plan: Plan, traceId: string | null, unconfirmed: DispatchableStep[], premise?: PlanPremise): Promise<Advance | undefined> {
    const common = { actor: ACTOR, tenantId: task.tenantId, taskId: task.id, traceId } as const;
    if (plan.type === 'continue') {
      if (plan.newSteps.length === 0) {
        this.snapshots.keep(task);
        return { task, toDispatch: unconfirmed };
      }
      const steps: StepToInsert[] = plan.newSteps.map((step) => ({ ...step, id: randomUUID() }));
      const audit: AuditEventInput[] = steps.map((step) => ({
        ...common,
        action: 'step.queued',
        subject: `step:${step.id}`,
        data: { key: step.key, kind: step.kind, agent: step.agent, dependsOn: step.dependsOn },
      }));
      const planned = taskPlannedEvent(task.steps, steps, common);
      if (planned) audit.unshift(planned);
      if (!(await this.store.insertSteps(task, steps, audit, premise))) return undefined;
      this.snapshots.keep({ ...task, version: task.version + 1, steps: [...task.steps, ...steps.map(queuedStep)] });
      return { task, toDispatch: [...unconfirmed, ...steps.map((step) => dispatchable(task, { ...step, dispatchSeq: 1 }))] };
    }

    this.snapshots.forget(task.id);

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
      }, premise);
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
    }, premise);
    return ended ? { task, toDispatch: [], finished: { status: plan.status, version: task.version + 1 } } : undefined;
  }
}

function dispatchable(task: TaskSnapshot, step: { id: string; kind: string; agent: string; dispatchSeq: number; input: Record<string, unknown> }): DispatchableStep {
  return { id: step.id, taskId: task.id, tenantId: task.tenantId, kind: step.kind, agent: step.agent, dispatchSeq: step.dispatchSeq, input: step.input };
}

/** The step error's own explanation (a budget's limit and spend, the models that failed and why), as the agent wrote it. */
function readableMessage(error: unknown, fallback = 'A spend budget does not allow this step.'): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : fallback;
}
