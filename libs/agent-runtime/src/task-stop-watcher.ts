import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { STREAMS, TaskControlV1, type TaskControl } from '@atelier/contracts';
import { type Follower, JetStreamClient } from '@atelier/messaging';
import { LOGGER, type Logger } from '@atelier/observability';

/** Why a running step was told to stop: its task ended (cancelled, timed out, failed elsewhere). */
export class TaskStopped extends Error {
  override readonly name = 'TaskStopped';
  constructor(readonly status: TaskControl['status']) {
    super(`the task was ${status.replace('_', ' ')}`);
  }
}

const RETRY_MS = 2_000;

/**
 * Follows TASK_CONTROL and aborts the steps this process runs for a task that ended, so
 * their model calls stop at once (the SDK honours the AbortSignal). The database stays
 * the authority: a notice missed while disconnected only costs the rest of the call,
 * and a step of an ended task is never claimed.
 */
@Injectable()
export class TaskStopWatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly running = new Map<string, Set<AbortController>>();
  private follower?: Follower;
  private closed = false;

  constructor(
    private readonly nats: JetStreamClient,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    await this.follower?.stop();
  }

  /** Aborts `controller` with TaskStopped when the task ends; call the returned function once the step is over. */
  watch(taskId: string, controller: AbortController): () => void {
    const controllers = this.running.get(taskId) ?? new Set();
    controllers.add(controller);
    this.running.set(taskId, controllers);
    return () => {
      controllers.delete(controller);
      if (controllers.size === 0) this.running.delete(taskId);
    };
  }

  private async start(): Promise<void> {
    try {
      this.follower = await this.nats.follow({
        stream: STREAMS.taskControl.stream,
        subject: STREAMS.taskControl.subjects[0],
        onMessage: (message) => this.stop(message.data),
        onEnd: () => this.restartLater(),
      });
    } catch (error) {
      this.logger.warn({ err: error }, 'cannot follow task stop notices yet; retrying');
      this.restartLater();
    }
  }

  private restartLater(): void {
    if (this.closed) return;
    setTimeout(() => void this.start(), RETRY_MS).unref();
  }

  private stop(data: unknown): void {
    const notice = TaskControlV1.safeParse(data);
    if (!notice.success) return;
    for (const controller of this.running.get(notice.data.taskId) ?? []) controller.abort(new TaskStopped(notice.data.status));
  }
}
