import { type BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import { LOGGER, type Logger } from '@atelier/observability';
import { namedStatement, PrismaService } from '@atelier/persistence';

/** Marks are written at most this long after the publish they confirm. */
const FLUSH_AFTER_MS = 100;
const MAX_BATCH = 1_000;
const MARK_DISPATCHED = namedStatement('step.mark-dispatched', `UPDATE steps SET dispatched_at = now() WHERE id = ANY($1::uuid[]) AND dispatched_at IS NULL`);

/**
 * `steps.dispatched_at` only tells the relay which steps it need not publish again, so
 * the marks of many publishes share one UPDATE. A mark lost in a crash costs one
 * re-publish that the broker drops as a duplicate.
 */
@Injectable()
export class DispatchMarks implements BeforeApplicationShutdown {
  private pending = new Set<string>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly prisma: PrismaService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  mark(stepIds: readonly string[]): void {
    for (const id of stepIds) this.pending.add(id);
    if (this.pending.size >= MAX_BATCH) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_AFTER_MS);
  }

  /** Before the pool closes (onApplicationShutdown); a mark made later is only a hint lost. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return this.flushing;
    const ids = [...this.pending];
    this.pending = new Set();
    this.flushing = this.flushing.then(() =>
      this.prisma.pool
        .query({ ...MARK_DISPATCHED, values: [ids] })
        .then(
          () => undefined,
          (error: unknown) => this.logger.warn({ err: error, steps: ids.length }, 'could not mark steps dispatched; the relay may publish them again'),
        ),
    );
    return this.flushing;
  }
}
