import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { type StepKind, STREAMS, SUBJECTS, TaskEventV1, TERMINAL_TASK_STATUSES, type TaskEvent } from '@atelier/contracts';
import { type Follower, JetStreamClient } from '@atelier/messaging';
import { LOGGER, type Logger } from '@atelier/observability';
import { PrismaService, stepStatusToApi, taskStatusToApi } from '@atelier/persistence';

/** A comment line this often keeps proxies from closing an idle stream, and re-checks the task. */
const KEEP_ALIVE_MS = 15_000;
/** Clients reconnect after this long (the SSE `retry` field). */
const RECONNECT_MS = 2_000;
/**
 * The orchestrator commits a task's end before it publishes the last step's event and
 * `task.finished`; for this long after the end the published events are awaited rather
 * than made up from the rows.
 */
const SETTLE_MS = 2_000;

const STEP_END_EVENTS = { completed: 'step.completed', failed: 'step.failed', dead_lettered: 'step.failed' } as const;

/** What one client's stream has seen and done. */
interface StreamState {
  finished: boolean;
  /** Step ends found in the stream, before or after Last-Event-ID: `<stepId>:<event>`. */
  readonly stepEnds: Set<string>;
  /** The stream holds a `task.finished` the client already saw (at or before Last-Event-ID). */
  finishedBefore: boolean;
  checking: boolean;
  settleTimer?: NodeJS.Timeout;
}

/**
 * `GET /v1/tasks/{id}/events`: the task's progress as Server-Sent Events, read from
 * TASK_EVENTS through an ordered consumer per client. An event's `id` is its stream
 * sequence, so `Last-Event-ID` resumes right after it. The stream ends after the task's
 * last `task.finished`: a task revived after an end (a dead letter replayed) has two, and
 * the first, followed by the revived task's events, is not sent.
 *
 * Events are published after the database commits (and are kept an hour), so a client
 * can find a task finished in Postgres whose last events are not in the stream yet, or
 * never will be (a crash between commit and publish, events expired). The stream stays
 * consistent with the rows: once the task is finished and caught up with, it waits up to
 * SETTLE_MS after the end for the published events, then makes up (without an `id`) the
 * step ends the stream lacks and `task.finished`, so a client never misses a step's end
 * and never waits forever. The whole subject is read from its start to know which step
 * ends the stream holds, and only what follows Last-Event-ID is sent.
 */
@Injectable()
export class TaskEventStreamService implements BeforeApplicationShutdown {
  private readonly open = new Set<() => void>();

  constructor(
    private readonly nats: JetStreamClient,
    private readonly prisma: PrismaService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Writes events to `response` until the task finishes or the client leaves. */
  async stream(taskId: string, afterSequence: number | undefined, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const after = afterSequence ?? 0;
    const state: StreamState = { finished: false, stepEnds: new Set(), finishedBefore: false, checking: false };
    let follower: Follower | undefined;
    const keepAlive = setInterval(() => {
      response.write(': keep-alive\n\n');
      void this.finishIfDone(taskId, state, finish);
    }, KEEP_ALIVE_MS);
    const close = () => {
      clearInterval(keepAlive);
      clearTimeout(state.settleTimer);
      this.open.delete(close);
      void follower?.stop();
      if (!response.writableEnded) response.end();
    };
    const finish = (events: readonly TaskEvent[], id?: number) => {
      if (state.finished) return;
      state.finished = true;
      for (const event of events) write(response, event, event.event === 'task.finished' ? id : undefined);
      close();
    };
    this.open.add(close);
    request.on('close', close);
    response.write(`retry: ${RECONNECT_MS}\n\n`);

    try {
      follower = await this.nats.follow({
        stream: STREAMS.taskEvents.stream,
        subject: SUBJECTS.taskEvents(taskId),
        startSequence: 1,
        onMessage: (message) => {
          const parsed = TaskEventV1.safeParse(message.data);
          if (state.finished) return;
          if (parsed.success) {
            const event = parsed.data;
            if (event.stepId && (event.event === 'step.completed' || event.event === 'step.failed')) state.stepEnds.add(`${event.stepId}:${event.event}`);
            if (message.streamSequence <= after) {
              if (event.event === 'task.finished') state.finishedBefore = true;
            } else if (event.event === 'task.finished') {
              // Events after it: the task was revived (a dead letter replayed) and went on; its last end is the one that counts.
              if (message.pending > 0) return;
              return void this.finishUnlessRevived(taskId, event, message.streamSequence, finish);
            } else {
              write(response, event, message.streamSequence);
            }
          }
          if (message.pending === 0) void this.finishIfDone(taskId, state, finish);
        },
        onEnd: close,
      });
    } catch (error) {
      this.logger.warn({ err: error, taskId }, 'cannot follow task events');
      close();
      return;
    }
    if (!this.open.has(close)) {
      // The client left while the consumer was being created.
      await follower.stop();
      return;
    }
    if (follower.backlog === 0) await this.finishIfDone(taskId, state, finish);
  }

  beforeApplicationShutdown(): void {
    for (const close of [...this.open]) close();
  }

  /**
   * Ends the stream with the `task.finished` just read, unless the task's row says it runs
   * again (revived after this end, its next events not published yet): then the stream
   * goes on to the next end. The database away, this end is taken as it stands.
   */
  private async finishUnlessRevived(taskId: string, event: TaskEvent, sequence: number, finish: (events: readonly TaskEvent[], id?: number) => void): Promise<void> {
    const task = await this.prisma.task.findUnique({ where: { id: taskId }, select: { status: true } }).catch(() => undefined);
    const status = task ? taskStatusToApi(task.status) : undefined;
    if (status && !TERMINAL_TASK_STATUSES.includes(status)) return;
    finish([event], sequence);
  }

  /** Ends the stream when the task's row says it is over (see the class comment); the database away, the next look decides. */
  private async finishIfDone(taskId: string, state: StreamState, finish: (events: readonly TaskEvent[]) => void): Promise<void> {
    if (state.finished || state.checking) return;
    state.checking = true;
    try {
      const task = await this.prisma.task.findUnique({
        where: { id: taskId },
        select: { status: true, completedAt: true, steps: { select: { id: true, key: true, kind: true, status: true, completedAt: true }, orderBy: [{ completedAt: 'asc' }, { key: 'asc' }] } },
      });
      const status = task ? taskStatusToApi(task.status) : undefined;
      if (!task || !status || !TERMINAL_TASK_STATUSES.includes(status) || state.finished) return;
      const endedAt = task.completedAt ?? new Date();
      const settled = endedAt.getTime() + SETTLE_MS - Date.now();
      if (settled > 0 && !state.finishedBefore) {
        // The published events are most likely on their way: give them the time to arrive.
        clearTimeout(state.settleTimer);
        state.settleTimer = setTimeout(() => void this.finishIfDone(taskId, state, finish), settled);
        return;
      }
      const missing: TaskEvent[] = state.finishedBefore ? [] : task.steps.flatMap((step) => {
        const apiStatus = stepStatusToApi(step.status);
        const event = STEP_END_EVENTS[apiStatus as keyof typeof STEP_END_EVENTS];
        if (!event || state.stepEnds.has(`${step.id}:${event}`)) return [];
        const at = (step.completedAt ?? endedAt).toISOString();
        return [{ type: 'task.event', version: 1, taskId, event, stepId: step.id, key: step.key, kind: step.kind as StepKind, status: apiStatus, at } satisfies TaskEvent];
      });
      finish([...missing, { type: 'task.event', version: 1, taskId, event: 'task.finished', status, at: endedAt.toISOString() }]);
    } catch {
      // The database is away; the next keep-alive looks again.
    } finally {
      state.checking = false;
    }
  }
}

function write(response: ServerResponse, event: TaskEvent, id?: number): void {
  response.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event.event}\ndata: ${JSON.stringify(event)}\n\n`);
}
