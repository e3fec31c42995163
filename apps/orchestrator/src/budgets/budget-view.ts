import { type Budget, type BudgetBalance, Prisma, windowEndOf, windowHasRolled, windowStartAt } from '@atelier/persistence';

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

/** `balance`: the budget's exact money (budget_balances); without it, the row's own figures (a budget nothing was settled against). */
export function toBudgetView(budget: Budget, balance: BudgetBalance | undefined, tenantName: string | undefined, now: Date): BudgetView {
  const money = balance ?? { spentUsd: budget.spentUsd, reservedUsd: budget.reservedUsd, windowStart: budget.windowStart };
  // A window that ended since the last write reads as a fresh one: the next write rolls it.
  const rolled = windowHasRolled(budget.period, money.windowStart, now);
  const windowStart = windowStartAt(budget.period, now, money.windowStart);
  const spent = rolled ? new Prisma.Decimal(0) : money.spentUsd;
  const available = Prisma.Decimal.max(0, budget.limitUsd.minus(spent).minus(money.reservedUsd));
  return {
    id: budget.id,
    scope: budget.scope.toLowerCase() as BudgetView['scope'],
    ...(tenantName ? { tenant: tenantName } : {}),
    ...(budget.taskId ? { taskId: budget.taskId } : {}),
    period: budget.period.toLowerCase() as BudgetView['period'],
    limitUsd: budget.limitUsd.toFixed(),
    spentUsd: spent.toFixed(),
    reservedUsd: money.reservedUsd.toFixed(),
    availableUsd: available.toFixed(),
    utilization: budget.limitUsd.isZero() ? '1' : spent.dividedBy(budget.limitUsd).toDecimalPlaces(6).toFixed(),
    windowStart: windowStart.toISOString(),
    windowEnd: windowEndOf(budget.period, windowStart)?.toISOString() ?? null,
    alertThresholds: budget.alertThresholds,
    createdAt: budget.createdAt.toISOString(),
    updatedAt: budget.updatedAt.toISOString(),
  };
}
