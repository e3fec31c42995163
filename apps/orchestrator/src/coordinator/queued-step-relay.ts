import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { PrismaService, StepStatus } from '@atelier/persistence';
import { childSpan, LOGGER, type Logger, newTraceContext } from '@atelier/observability';
import { StepDispatcher } from './step-dispatcher';

const RELAY_INTERVAL_MS = 5_000;
/** A step younger than this may still be being published by the code that created it. */
const GRACE_MS = 5_000;
const BATCH = 500;

/**
 * Publish-after-commit can fail (NATS down, process killed between commit and publish).
 * The relay publishes steps still `queued` and never marked dispatched after the grace
 * period. It is safe: the message id `<stepId>:1` is de-duplicated by JetStream inside
 * its window, and agents never re-run a step that has completed.
 */
@Injectable()
export class QueuedStepRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly prisma: PrismaService,
    private readonly dispatcher: StepDispatcher,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.relayOnce(), RELAY_INTERVAL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async relayOnce(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const stale = await this.prisma.step.findMany({
        where: { status: StepStatus.QUEUED, dispatchedAt: null, queuedAt: { lt: new Date(Date.now() - GRACE_MS) } },
        include: { task: { select: { tenantId: true, traceId: true } } },
        orderBy: { queuedAt: 'asc' },
        take: BATCH,
      });
      for (const step of stale) {
        const trace = step.task.traceId ? childSpan({ traceId: step.task.traceId, spanId: '', sampled: true }) : newTraceContext();
        await this.dispatcher.dispatch([{ id: step.id, taskId: step.taskId, tenantId: step.task.tenantId, kind: step.kind, agent: step.agent }], trace);
      }
      return stale.length;
    } catch (error) {
      this.logger.warn({ err: error }, 'relay of queued steps failed; will retry');
      return 0;
    } finally {
      this.running = false;
    }
  }
}
