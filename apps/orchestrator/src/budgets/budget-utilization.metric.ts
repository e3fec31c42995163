import { Inject, Injectable } from '@nestjs/common';
import { LOGGER, type Logger, METRICS_CATALOG, type MetricsCatalog } from '@atelier/observability';
import { type Clock, PrismaService } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { BUDGET_CLOCK } from './budget-clock';
import { PeriodicJob } from './periodic-job';

/**
 * `atelier_budget_utilization_ratio{scope}`: per scope, the highest (spent + reserved) /
 * limit among its budgets in their current UTC window (task budgets of unfinished tasks
 * only), read from budget_balances on the sweep interval so every replica reports the same truth.
 */
@Injectable()
export class BudgetUtilizationMetric extends PeriodicJob {
  constructor(
    private readonly prisma: PrismaService,
    @Inject(METRICS_CATALOG) private readonly metrics: MetricsCatalog,
    @Inject(BUDGET_CLOCK) private readonly clock: Clock,
    @Inject(ORCHESTRATOR_CONFIG) config: OrchestratorConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    super(config.SPEND_SWEEP_INTERVAL_MS, logger, 'reading budget utilization failed; will retry');
  }

  async runOnce(): Promise<void> {
    const now = this.clock.now();
    const rows = await this.prisma.$queryRaw<{ scope: string; ratio: number }[]>`
      SELECT b.scope::text AS scope,
             max(CASE WHEN b.limit_usd = 0 THEN 1
                      ELSE (CASE WHEN b.period <> 'total' AND b.window_start < date_trunc(b.period::text, ${now}::timestamptz, 'UTC')
                                 THEN 0 ELSE b.spent_usd END + b.reserved_usd) / b.limit_usd END)::float8 AS ratio
        FROM budget_balances b
       WHERE b.scope <> 'task' OR EXISTS (SELECT 1 FROM tasks t WHERE t.id = b.task_id AND t.status IN ('queued', 'running'))
       GROUP BY b.scope`;
    const gauge = this.metrics.budgetUtilization;
    gauge.reset();
    for (const row of rows) gauge.set({ scope: row.scope }, row.ratio);
  }
}
