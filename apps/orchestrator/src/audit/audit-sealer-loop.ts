import { type BeforeApplicationShutdown, Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { LOGGER, type Logger, METRICS_REGISTRY } from '@atelier/observability';
import { PrismaService } from '@atelier/persistence';
import { Counter, Gauge, type Registry } from 'prom-client';
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
  private readonly lag: Gauge;
  private readonly sealedTotal: Counter;
  private timer?: NodeJS.Timeout;
  private current?: Promise<void>;
  private stopped = false;
  private failing = false;

  constructor(
    prisma: PrismaService,
    @Inject(AUDIT_SEALER_OPTIONS) options: AuditSealerOptions,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.sealer = new AuditSealer(prisma, options.batchSize);
    this.intervalMs = options.intervalMs;
    this.lag = new Gauge({
      name: 'atelier_audit_seal_lag_seconds',
      help: 'Age of the oldest committed audit event not yet sealed into the hash chain (0 when all are sealed)',
      registers: [registry],
    });
    this.sealedTotal = new Counter({ name: 'atelier_audit_sealed_events_total', help: 'Audit events sealed into the hash chain by this replica', registers: [registry] });
  }

  onApplicationBootstrap(): void {
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
        this.sealedTotal.inc(result.sealed);
        if (this.stopped || !result.locked || result.sealed < this.sealer.batchSize) break;
      }
      this.lag.set(await this.sealer.lagSeconds());
      if (this.failing) this.logger.info('audit sealer recovered');
      this.failing = false;
    } catch (error) {
      // Logged once per outage, not every tick; the lag metric keeps growing meanwhile.
      if (!this.failing) this.logger.warn({ err: error }, 'audit sealing failed; retrying every interval');
      this.failing = true;
    }
  }
}
