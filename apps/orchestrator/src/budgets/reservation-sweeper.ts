import { Inject, Injectable } from '@nestjs/common';
import { LOGGER, type Logger, METRICS_CATALOG, type MetricsCatalog } from '@atelier/observability';
import { SpendLedger } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { PeriodicJob } from './periodic-job';

const BATCH = 100;

/**
 * A reservation still held past its TTL means its holder died mid-call (kill -9, node
 * lost): the provider may have billed the call, so it is settled at its reserved amount
 * as an unknown outcome, with its ledger row and audit event. Money is never under-counted.
 * Every replica sweeps; SKIP LOCKED gives each its own rows.
 */
@Injectable()
export class ReservationSweeper extends PeriodicJob {
  constructor(
    private readonly ledger: SpendLedger,
    @Inject(ORCHESTRATOR_CONFIG) config: OrchestratorConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_CATALOG) private readonly metrics: MetricsCatalog,
  ) {
    super(config.SPEND_SWEEP_INTERVAL_MS, logger, 'sweeping spend reservations failed; will retry');
  }

  async runOnce(): Promise<number> {
    let swept = 0;
    for (;;) {
      const result = await this.ledger.sweepExpired(BATCH, 'service:orchestrator');
      for (const alert of result.alerts) this.metrics.budgetAlerts.inc({ scope: alert.scope, threshold: String(alert.threshold) });
      swept += result.count;
      if (result.count < BATCH) break;
    }
    if (swept > 0) this.logger.warn({ swept }, 'settled reservations whose holder died as unknown outcomes at their reserved amount');
    return swept;
  }
}
