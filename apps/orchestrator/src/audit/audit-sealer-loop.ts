import { type BeforeApplicationShutdown, Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { LOGGER, type Logger, METRICS_CATALOG, type MetricsCatalog } from '@atelier/observability';
import { PrismaService } from '@atelier/persistence';
import { AuditSealer } from './audit-sealer';

export interface AuditSealerOptions {
  /** AUDIT_SEAL_INTERVAL_MS */
  intervalMs: number;
  /** AUDIT_SEAL_BATCH_SIZE */
  batchSize: number;
}

export const AUDIT_SEALER_OPTIONS = Symbol('AUDIT_SEALER_OPTIONS');

/**
 * Runs the sealer on every orchestrator replica, every AUDIT_SEAL_INTERVAL_MS; the
 * advisory lock lets one of them seal at a time. A backlog is drained batch after batch.
 * Every replica reports the seal lag, so a stuck sealer shows whichever replica is asked.
 */
@Injectable()
export class AuditSealerLoop implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly sealer: AuditSealer;
  private readonly intervalMs: number;
  private timer?: NodeJS.Timeout;
  private current?: Promise<void>;
  private stopped = false;
  private failing = false;

  constructor(
    prisma: PrismaService,
    @Inject(AUDIT_SEALER_OPTIONS) options: AuditSealerOptions,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_CATALOG) private readonly metrics: MetricsCatalog,
  ) {
    this.sealer = new AuditSealer(prisma, options.batchSize);
    this.intervalMs = options.intervalMs;
  }

  onApplicationBootstrap(): void {
    // Listed on /metrics from the start, not only after the first seal.
    this.metrics.auditSealLag.set(0);
    this.metrics.auditSealedEvents.inc(0);
    this.schedule(0);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.current;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.current = this.tick().finally(() => this.schedule(this.intervalMs));
    }, delayMs);
  }

  private async tick(): Promise<void> {
    try {
      for (;;) {
        const result = await this.sealer.sealBatch();
        this.metrics.auditSealedEvents.inc(result.sealed);
        if (this.stopped || !result.locked || result.sealed < this.sealer.batchSize) break;
      }
      this.metrics.auditSealLag.set(await this.sealer.lagSeconds());
      if (this.failing) this.logger.info('audit sealer recovered');
      this.failing = false;
    } catch (error) {
      // Logged once per outage, not every tick; the lag metric keeps growing meanwhile.
      if (!this.failing) this.logger.warn({ err: error }, 'audit sealing failed; retrying every interval');
      this.failing = true;
    }
  }
}
