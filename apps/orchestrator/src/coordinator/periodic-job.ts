import type { OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from '@atelier/observability';

/**
 * A coordinator chore every replica runs on a timer (relay, deadlines): one run at a time
 * per process, a failed run logged and tried again on the next tick. Safe across replicas
 * because each run's writes are conditional.
 */
export abstract class PeriodicJob implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running = false;

  protected abstract readonly description: string;
  protected abstract readonly logger: Logger;
  protected abstract intervalMs(): number;
  /** One run; returns how many items it handled. */
  protected abstract run(): Promise<number>;

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.runOnce(), this.intervalMs());
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async runOnce(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      return await this.run();
    } catch (error) {
      this.logger.warn({ err: error }, `${this.description} failed; will retry`);
      return 0;
    } finally {
      this.running = false;
    }
  }
}
