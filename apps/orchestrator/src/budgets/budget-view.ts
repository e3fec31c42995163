import { type Budget, Prisma, windowEndOf, windowHasRolled, windowStartAt } from '@atelier/persistence';

/** The public shape of a budget; money as decimal strings, the spend of the current UTC window. */
export interface BudgetView {
  id: string;
  scope: 'global' | 'tenant' | 'task';
  tenant?: string;
  taskId?: string;
  period: 'total' | 'day' | 'month';
  limitUsd: string;
  spentUsd: string;
  reservedUsd: string;
  availableUsd: string;
  /** spent / limit, as a decimal string ("0.42"); "1" for a zero limit. */
  utilization: string;
  windowStart: string;
  windowEnd: string | null;
  alertThresholds: number[];
  createdAt: string;
  updatedAt: string;
}

export function toBudgetView(budget: Budget, tenantName: string | undefined, now: Date): BudgetView {
  // A window that ended since the last write reads as a fresh one: the next write rolls it.
  const rolled = windowHasRolled(budget.period, budget.windowStart, now);
  const windowStart = windowStartAt(budget.period, now, budget.windowStart);
  const spent = rolled ? new Prisma.Decimal(0) : budget.spentUsd;
  const available = Prisma.Decimal.max(0, budget.limitUsd.minus(spent).minus(budget.reservedUsd));
  return {
    id: budget.id,
    scope: budget.scope.toLowerCase() as BudgetView['scope'],
    ...(tenantName ? { tenant: tenantName } : {}),
    ...(budget.taskId ? { taskId: budget.taskId } : {}),
    period: budget.period.toLowerCase() as BudgetView['period'],
    limitUsd: budget.limitUsd.toFixed(),
    spentUsd: spent.toFixed(),
    reservedUsd: budget.reservedUsd.toFixed(),
    availableUsd: available.toFixed(),
    utilization: budget.limitUsd.isZero() ? '1' : spent.dividedBy(budget.limitUsd).toDecimalPlaces(6).toFixed(),
    windowStart: windowStart.toISOString(),
    windowEnd: windowEndOf(budget.period, windowStart)?.toISOString() ?? null,
    alertThresholds: budget.alertThresholds,
    createdAt: budget.createdAt.toISOString(),
    updatedAt: budget.updatedAt.toISOString(),
  };
}
