import { Inject, Injectable } from '@nestjs/common';
import { messageIds, SUBJECTS, TERMINAL_TASK_STATUSES, type TaskControl, type TaskStatus } from '@atelier/contracts';
import { JetStreamClient, publishTaskEvent } from '@atelier/messaging';
import { METRICS_CATALOG, type MetricsCatalog } from '@atelier/observability';
import type { Actor } from '@atelier/persistence';
import { partialResult } from '../workflows/partial-result';
import { isLockConflict } from './lock-conflict';
import { type TaskSnapshot, TaskStore } from './task-store';

const MAX_CONFLICTS = 8;

export type StopStatus = 'cancelled' | 'timed_out';

export interface StopRequest {
  status: StopStatus;
  actor: Actor;
  requestId?: string;
  traceId?: string | null;
}

export type StopOutcome = { type: 'stopped'; task: TaskSnapshot } | { type: 'already-finished'; status: TaskStatus } | { type: 'missing' };

/**
 * Ends a task from outside its workflow (cancel, deadline) and everywhere it may still
 * run: one version-checked statement stops its queued and running steps, keeps its
 * partial result and records the audit event; then the agents are told to abort the
 * model calls in flight (AbortSignal) and watchers get `task.finished`.
 *
 * Spend: queued steps hold no reservation. An aborted in-flight call's reservation is
 * settled or released by the agent's model-call path (issue 3's ModelCaller) when the
 * abort reaches it, so money held for a call that did go out is never under-counted.
 *
 * A deadlock or serialization failure (another statement won) is one more conflict:
 * looked at again, never a 500 for the caller.
 */
@Injectable()
export class TaskTerminator {
  constructor(
    private readonly store: TaskStore,
    private readonly nats: JetStreamClient,
    @Inject(METRICS_CATALOG) private readonly metrics: MetricsCatalog,
  ) {}

  async stop(taskId: string, request: StopRequest): Promise<StopOutcome> {
    for (let conflicts = 0; conflicts < MAX_CONFLICTS; conflicts++) {
      const task = await this.store.load(taskId);
      if (!task) return { type: 'missing' };
      if (TERMINAL_TASK_STATUSES.includes(task.status)) return { type: 'already-finished', status: task.status };
      const ended = await this.store.end(task, {
        status: request.status,
        result: partialResult(task.steps),
        error:
          request.status === 'cancelled' ?
            { code: 'CANCELLED', message: 'The task was cancelled on request.' }
          : { code: 'TIMED_OUT', message: `The task did not finish by its deadline (${task.deadlineAt?.toISOString() ?? 'unknown'}).` },
        audit: {
          action: request.status === 'cancelled' ? 'task.cancelled' : 'task.failed',
          actor: request.actor,
          subject: `task:${task.id}`,
          tenantId: task.tenantId,
          taskId: task.id,
          traceId: request.traceId ?? task.traceId,
          requestId: request.requestId ?? null,
          data: { status: request.status },
        },
      }).catch((error: unknown) => {
        if (isLockConflict(error)) return false;
        throw error;
      });
      if (ended) {
        await this.announce(task.id, request.status, task.version + 1);
        return { type: 'stopped', task };
      }
    }
    throw new Error(`task ${taskId} kept changing while being stopped`);
  }

  /**
   * Tells agents to abort the task's steps and watchers that it finished; the database
   * already says so. `version` is the task version the end wrote: a task revived by a
   * dead-letter replay and ended again is news, not a duplicate for the broker to drop.
   */
  async announce(taskId: string, status: TaskControl['status'] | 'completed', version: number): Promise<void> {
    this.metrics.tasks.inc({ status });
    publishTaskEvent(this.nats, { taskId, event: 'task.finished', status, sequence: version });
    if (status === 'completed') return;
    const notice: TaskControl = { type: 'task.control', version: 1, taskId, action: 'stop', status };
    await this.nats.publishJson(SUBJECTS.taskControl(taskId), notice, { msgId: messageIds.control(taskId, version) }).catch(() => undefined);
  }
}
