import { type BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import { LOGGER, type Logger } from '@atelier/observability';
import { arrayRows, namedStatement, PrismaService, WITHOUT_WAITING_FOR_FLUSH } from '@atelier/persistence';

/** Marks are written at most this long after the publish they confirm. */
const FLUSH_AFTER_MS = 100;
const MAX_BATCH = 1_000;
/**
 * A mark names the publication it confirms (`dispatch_seq`): one of an earlier
 * publication, arriving late, must not overwrite where the current message is stored.
 * Rows already marked with the same sequence are left alone (no new row version). The
 * batch's step rows are locked in id order, as by every statement that locks several
 * steps: the agents claim and end these very steps meanwhile, and rows locked in the
 * order of the batch deadlocked with them (resolved only after deadlock_timeout, 1 s).
 * A hint: it commits without waiting for its WAL to reach the disk.
 */
const MARK_DISPATCHED = namedStatement(
  'step.mark-dispatched.v5',
  `WITH m AS MATERIALIZED (${arrayRows(['$1::uuid[]', '$2::int[]', '$3::bigint[]'], ['id', 'dispatch_seq', 'stream_seq'])}),
   locked AS (SELECT id FROM steps WHERE id IN (SELECT id FROM m) ORDER BY id FOR NO KEY UPDATE)
   UPDATE steps s SET dispatched_at = COALESCE(s.dispatched_at, now()), dispatch_stream_seq = m.stream_seq
     FROM m JOIN locked l ON l.id = m.id
    WHERE s.id = m.id AND s.dispatch_seq = m.dispatch_seq
      AND (s.dispatched_at IS NULL OR s.dispatch_stream_seq IS DISTINCT FROM m.stream_seq)
      AND ${WITHOUT_WAITING_FOR_FLUSH}`,
);

/** A publication the broker acknowledged: message `<stepId>:<dispatchSeq>`, stored at `streamSeq` of its agent stream. */
export interface DispatchMark {
  stepId: string;
  dispatchSeq: number;
  streamSeq: number;
}

/**
 * `steps.dispatched_at` tells the relay which steps it need not publish again, and
 * `dispatch_stream_seq` where to look for a message it suspects lost, so the marks of many
 * publishes share one UPDATE. A mark lost in a crash costs one re-publish that the broker
 * drops as a duplicate.
 */
@Injectable()
export class DispatchMarks implements BeforeApplicationShutdown {
  private pending = new Map<string, DispatchMark>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly prisma: PrismaService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  mark(marks: readonly DispatchMark[]): void {
    for (const mark of marks) this.pending.set(mark.stepId, mark);
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
    const marks = [...this.pending.values()];
    this.pending = new Map();
    const values = [marks.map((mark) => mark.stepId), marks.map((mark) => mark.dispatchSeq), marks.map((mark) => mark.streamSeq)];
    this.flushing = this.flushing.then(() =>
      this.prisma.pool.query({ ...MARK_DISPATCHED, values }).then(
        () => undefined,
        (error: unknown) => this.logger.warn({ err: error, steps: marks.length }, 'could not mark steps dispatched; the relay may publish them again'),
      ),
    );
    return this.flushing;
  }
}
