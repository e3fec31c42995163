import { Inject, Injectable } from '@nestjs/common';
import { METRICS_REGISTRY } from '@atelier/observability';
import { PrismaService } from '@atelier/persistence';
import { Gauge, type Registry } from 'prom-client';

/**
 * `atelier_budget_utilization_ratio{scope}`: per scope, the highest spent / limit among
 * its budgets in their current UTC window (task budgets of unfinished tasks only), read
 * from Postgres at scrape time so every replica reports the same truth.
 */
@Injectable()
export class BudgetUtilizationMetric {
  constructor(prisma: PrismaService, @Inject(METRICS_REGISTRY) registry: Registry) {
    new Gauge({
      name: 'atelier_budget_utilization_ratio',
      help: 'Highest spent/limit among the budgets of each scope, in their current window',
      labelNames: ['scope'],
      registers: [registry],
      async collect() {
        const rows = await prisma.$queryRaw<{ scope: string; ratio: number }[]>`
          SELECT b.scope::text AS scope,
                 max(CASE WHEN b.limit_usd = 0 THEN 1
                          WHEN (b.period = 'day' AND b.window_start < date_trunc('day', now(), 'UTC'))
                            OR (b.period = 'month' AND b.window_start < date_trunc('month', now(), 'UTC')) THEN 0
                          ELSE b.spent_usd / b.limit_usd END)::float8 AS ratio
            FROM budgets b
           WHERE b.scope <> 'task' OR EXISTS (SELECT 1 FROM tasks t WHERE t.id = b.task_id AND t.status IN ('queued', 'running'))
           GROUP BY b.scope`.catch(() => []);
        this.reset();
        for (const row of rows) this.set({ scope: row.scope }, row.ratio);
      },
    });
  }
}
