import { Inject, Injectable } from '@nestjs/common';
import { LOGGER, type Logger, METRICS_CATALOG, type MetricsCatalog } from '@atelier/observability';
import { type Clock, SpendLedger } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { BUDGET_CLOCK } from './budget-clock';
import { PeriodicJob } from './periodic-job';

const BATCH = 100;
/** Budgets changed this long before the previous pass are checked again for alerts: clocks of replicas differ a little. */
const ALERT_LOOKBACK_MS = 60_000;

/**
 * The spend ledger's housekeeping, in every replica (each statement is safe run at once):
 *  - a reservation still held past its TTL means its holder died mid-call (kill -9, node
 *    lost): the provider may have billed the call, so it is settled at its reserved
 *    amount as an unknown outcome, with its ledger row and audit event;
 *  - settlements not yet folded into their budget rows are folded (reservations fold
 *    the rows they lock; this catches budgets no reservation comes back to);
 *  - budgets whose spend reached an alert threshold raise the alert (outbox, audit
 *    event, metric), once per window.
 */
@Injectable()
export class SpendHousekeeper extends PeriodicJob {
  private alertsCheckedAt = new Date(0);

  constructor(
    private readonly ledger: SpendLedger,
    @Inject(BUDGET_CLOCK) private readonly clock: Clock,
    @Inject(ORCHESTRATOR_CONFIG) config: OrchestratorConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_CATALOG) private readonly metrics: MetricsCatalog,
  ) {
    super(config.SPEND_SWEEP_INTERVAL_MS, logger, 'spend ledger housekeeping failed; will retry');
  }

  async runOnce(): Promise<{ swept: number; alerts: number }> {
    let swept = 0;
    for (;;) {
      const result = await this.ledger.sweepExpired(BATCH, 'service:orchestrator');
      swept += result.count;
      if (result.count < BATCH) break;
    }
    if (swept > 0) this.logger.warn({ swept }, 'settled reservations whose holder died as unknown outcomes at their reserved amount');
    await this.ledger.foldSettlements();
    const startedAt = this.clock.now();
    // Budgets changed since the last pass (or since now, should the clock have gone back).
    const since = new Date(Math.min(this.alertsCheckedAt.getTime(), startedAt.getTime()) - ALERT_LOOKBACK_MS);
    const alerts = await this.ledger.raiseAlerts(since, 'service:orchestrator');
    this.alertsCheckedAt = startedAt;
    for (const alert of alerts) this.metrics.budgetAlerts.inc({ scope: alert.scope, threshold: String(alert.threshold) });
    return { swept, alerts: alerts.length };
  }
}
