import { Injectable } from '@nestjs/common';
import type { StepStatus } from '@atelier/contracts';
import type { StepSnapshot, StepToInsert, TaskSnapshot } from './task-store';

/** About the tasks one replica has in flight, with room; the oldest goes first beyond it. */
const MAX_TASKS = 1_000;

/**
 * The tasks this replica last wrote or read, as it wrote or read them, so that a step
 * result can be planned without reading its task back (TaskAdvancer). A snapshot may be
 * stale in every way the task can move without this replica (agents, other replicas): a
 * plan made from one is written only with its premise checked (PlanPremise).
 */
@Injectable()
export class TaskSnapshots {
  private readonly tasks = new Map<string, TaskSnapshot>();

  get(taskId: string): TaskSnapshot | undefined {
    return this.tasks.get(taskId.toLowerCase());
  }

  keep(task: TaskSnapshot): void {
    const id = task.id.toLowerCase();
    this.tasks.delete(id); // to the back of the line
    this.tasks.set(id, task);
    for (const oldest of this.tasks.keys()) {
      if (this.tasks.size <= MAX_TASKS) break;
      this.tasks.delete(oldest);
    }
  }

  forget(taskId: string): void {
    this.tasks.delete(taskId.toLowerCase());
  }
}

/** A step's stage as a plan's premise names it: `active` (queued or running, alike to the planner) or its final status. */
export function planningStage(status: StepStatus): string {
  return status === 'queued' || status === 'running' ? 'active' : status;
}

/** A step just inserted, as a load would read it. */
export function queuedStep(step: StepToInsert): StepSnapshot {
  return { ...step, status: 'queued', output: null, error: null, completedAt: null, dispatched: false, dispatchSeq: 1 };
}
