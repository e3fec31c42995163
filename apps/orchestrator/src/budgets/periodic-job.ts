import type { OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from '@atelier/observability';

/**
 * Work every replica runs on a timer while the app is up (sweeping, sending, purging):
 * never two runs at once in a process, a failed run is logged and the next one tries
 * again. Safe across replicas because each job's own SQL is (SKIP LOCKED, idempotent).
 */
export abstract class PeriodicJob implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  protected constructor(
    private readonly intervalMs: number,
    private readonly log: Logger,
    private readonly failure: string,
  ) {}

  /** One run; what it returns is for tests. */
  abstract runOnce(): Promise<unknown>;

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = this.runOnce()
      .then(() => undefined)
      .catch((error: unknown) => this.log.warn({ err: error }, this.failure))
      .finally(() => (this.running = undefined));
    await this.running;
  }
}
