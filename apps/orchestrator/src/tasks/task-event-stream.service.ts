import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { STREAMS, SUBJECTS, TaskEventV1, TERMINAL_TASK_STATUSES, type TaskEvent } from '@atelier/contracts';
import { type Follower, JetStreamClient } from '@atelier/messaging';
import { LOGGER, type Logger } from '@atelier/observability';
import { PrismaService, taskStatusToApi } from '@atelier/persistence';

/** A comment line this often keeps proxies from closing an idle stream, and re-checks the task. */
const KEEP_ALIVE_MS = 15_000;
/** Clients reconnect after this long (the SSE `retry` field). */
const RECONNECT_MS = 2_000;

/**
 * `GET /v1/tasks/{id}/events`: the task's progress as Server-Sent Events, read from
 * TASK_EVENTS through an ordered consumer per client. An event's `id` is its stream
 * sequence, so `Last-Event-ID` resumes right after it. The stream ends after
 * `task.finished`; a task that finished without one in the stream (events are best
 * effort, kept an hour) gets one made from its row, so a client never waits forever.
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
    let finished = false;
    let follower: Follower | undefined;
    const keepAlive = setInterval(() => {
      response.write(': keep-alive\n\n');
      void this.finishIfDone(taskId, () => finished, finish);
    }, KEEP_ALIVE_MS);
    const close = () => {
      clearInterval(keepAlive);
      this.open.delete(close);
      void follower?.stop();
      if (!response.writableEnded) response.end();
    };
    const finish = (event: TaskEvent, id?: number) => {
      if (finished) return;
      finished = true;
      write(response, event, id);
      close();
    };
    this.open.add(close);
    request.on('close', close);
    response.write(`retry: ${RECONNECT_MS}\n\n`);

    try {
      follower = await this.nats.follow({
        stream: STREAMS.taskEvents.stream,
        subject: SUBJECTS.taskEvents(taskId),
        startSequence: (afterSequence ?? 0) + 1,
        onMessage: (message) => {
          const event = TaskEventV1.safeParse(message.data);
          if (!event.success || finished) return;
          if (event.data.event === 'task.finished') return finish(event.data, message.streamSequence);
          write(response, event.data, message.streamSequence);
          if (message.pending === 0) void this.finishIfDone(taskId, () => finished, finish);
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
    if (follower.backlog === 0) await this.finishIfDone(taskId, () => finished, finish);
  }

  beforeApplicationShutdown(): void {
    for (const close of [...this.open]) close();
  }

  private async finishIfDone(taskId: string, isFinished: () => boolean, finish: (event: TaskEvent) => void): Promise<void> {
    try {
      const task = await this.prisma.task.findUnique({ where: { id: taskId }, select: { status: true, completedAt: true } });
      const status = task ? taskStatusToApi(task.status) : undefined;
      if (!status || !TERMINAL_TASK_STATUSES.includes(status) || isFinished()) return;
      finish({ type: 'task.event', version: 1, taskId, event: 'task.finished', status, at: (task?.completedAt ?? new Date()).toISOString() });
    } catch {
      // The database is away; the next keep-alive looks again.
    }
  }
}

function write(response: ServerResponse, event: TaskEvent, id?: number): void {
  response.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event.event}\ndata: ${JSON.stringify(event)}\n\n`);
}
