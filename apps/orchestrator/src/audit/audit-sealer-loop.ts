import { type BeforeApplicationShutdown, Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { LOGGER, type Logger, METRICS_CATALOG, type MetricsCatalog } from '@atelier/observability';
import { PrismaService } from '@atelier/persistence';
import { AuditSealer, type SealResult } from './audit-sealer';

export interface AuditSealerOptions {
  /** AUDIT_SEAL_INTERVAL_MS */
  intervalMs: number;
  /** AUDIT_SEAL_BATCH_SIZE */
  batchSize: number;
  /** Stored bytes of event data per batch (default DEFAULT_SEAL_BATCH_BYTES). */
  batchBytes?: number;
}

export const AUDIT_SEALER_OPTIONS = Symbol('AUDIT_SEALER_OPTIONS');

/**
 * Runs the sealer on every orchestrator replica, every AUDIT_SEAL_INTERVAL_MS; the
 * advisory lock lets one of them seal at a time. A backlog is drained batch after batch.
 *
 * The seal lag gauge is sampled on its own timer, whatever the sealer does: a sealer that
 * keeps failing (or is blocked by a poisoned event) shows a growing lag, so the lag alert
 * fires; sampling only after a successful seal froze the gauge during an outage and read
 * its smallest value. Every sealed event's delay goes to a histogram, the true distribution.
 */
@Injectable()
export class AuditSealerLoop implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly sealer: AuditSealer;
  private readonly intervalMs: number;
  private sealTimer?: NodeJS.Timeout;
  private lagTimer?: NodeJS.Timeout;
  private current?: Promise<unknown>;
  private sampling?: Promise<void>;
  private stopped = false;
  private failing = false;
  private blockedSeq?: number;
  /** The last tick sealed nothing: the next one looks before it opens a transaction. */
  private sealedNothing = false;

  constructor(
    prisma: PrismaService,
    @Inject(AUDIT_SEALER_OPTIONS) options: AuditSealerOptions,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_CATALOG) private readonly metrics: MetricsCatalog,
  ) {
    this.sealer = new AuditSealer(prisma, { batchSize: options.batchSize, ...(options.batchBytes ? { batchBytes: options.batchBytes } : {}) });
    this.intervalMs = options.intervalMs;
  }

  onApplicationBootstrap(): void {
    // Listed on /metrics from the start, not only after the first seal.
    this.metrics.auditSealLag.set(0);
    this.metrics.auditSealedEvents.inc(0);
    void this.metrics.auditSealDelay;
    for (const reason of ['error', 'unhashable_event'] as const) this.metrics.auditSealFailures.inc({ reason }, 0);
    this.scheduleSeal(0);
    this.scheduleLagSample(0);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.sealTimer);
    clearTimeout(this.lagTimer);
    await Promise.all([this.current, this.sampling]);
  }

  private scheduleSeal(delayMs: number): void {
    if (this.stopped) return;
    this.sealTimer = setTimeout(() => {
      this.current = this.tick().finally(() => this.scheduleSeal(this.intervalMs));
    }, delayMs);
  }

  private scheduleLagSample(delayMs: number): void {
    if (this.stopped) return;
    this.lagTimer = setTimeout(() => {
      this.sampling = this.sampleLag().finally(() => this.scheduleLagSample(this.intervalMs));
    }, delayMs);
  }

  /** One sealing run: drains the backlog; what it returns is for tests. */
  async tick(): Promise<SealResult[]> {
    const results: SealResult[] = [];
    try {
      // After a tick that sealed nothing, one cheap look first: most ticks of a quiet
      // installation find nothing to seal, and the sealer's transaction costs several times more.
      const idle = this.sealedNothing && !(await this.sealer.hasPendingEvents());
      if (!idle) await this.drain(results);
      this.sealedNothing = results.every((result) => result.sealed === 0);
      if (this.failing) this.logger.info('audit sealer recovered');
      this.failing = false;
    } catch (error) {
      this.metrics.auditSealFailures.inc({ reason: 'error' });
      // Logged once per outage, not every tick; the lag gauge keeps growing meanwhile.
      if (!this.failing) this.logger.warn({ err: error }, 'audit sealing failed; retrying every interval');
      this.failing = true;
    }
    return results;
  }

  /** Seals batch after batch while they come back full. */
  private async drain(results: SealResult[]): Promise<void> {
    for (;;) {
      const result = await this.sealer.sealBatch();
      results.push(result);
      this.metrics.auditSealedEvents.inc(result.sealed);
      for (const delay of result.delays) this.metrics.auditSealDelay.observe(delay);
      this.reportBlocked(result);
      if (this.stopped || !result.locked || !result.full) return;
    }
  }

  /** Counted on every attempt, logged once per poisoned event (and once when sealing resumes). */
  private reportBlocked(result: SealResult): void {
    if (!result.locked) return;
    if (result.blocked) {
      this.metrics.auditSealFailures.inc({ reason: 'unhashable_event' });
      if (this.blockedSeq !== result.blocked.seq) {
        this.logger.error(
          { seq: result.blocked.seq, reason: result.blocked.reason },
          `audit sealing is blocked at event seq ${result.blocked.seq}: the chain cannot hash it (${result.blocked.reason}); ` +
            'it and every later event stay unsealed until it is repaired (docs/audit.md, "A poisoned event")',
        );
      }
      this.blockedSeq = result.blocked.seq;
    } else if (this.blockedSeq !== undefined && result.sealed > 0) {
      this.logger.info({ seq: this.blockedSeq }, 'audit sealing resumed past the event that blocked it');
      this.blockedSeq = undefined;
    }
  }

  /** The gauge follows the oldest unsealed event, sealer or not; a failed read keeps the last value. */
  async sampleLag(): Promise<void> {
    try {
      this.metrics.auditSealLag.set(await this.sealer.lagSeconds());
    } catch {
      // The database is unreachable: sealing fails too, and that is logged by tick().
    }
  }
}
