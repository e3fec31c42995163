import Decimal from 'decimal.js';
import type { BudgetSnapshot } from './spend-ledger';

const PERIOD_WORDS = { total: 'total', day: 'daily', month: 'monthly' } as const;

/** What a tenant may learn of a budget that refused its call: its own and its task's figures, of the platform's cap only that it is exhausted. */
export type TenantSafeBudget = BudgetSnapshot | Pick<BudgetSnapshot, 'id' | 'scope' | 'period' | 'fits'>;

/**
 * The blocking budgets of a refusal as a tenant may see them (the `budget.denied` audit
 * event's data, which the tenant reads): a global budget keeps its scope and period but
 * not its limit, spend or key, since those are the whole platform's.
 */
export function tenantSafeBlocking(blocking: readonly BudgetSnapshot[]): TenantSafeBudget[] {
  return blocking.map((budget) => (budget.scope === 'global' ? { id: budget.id, scope: budget.scope, period: budget.period, fits: budget.fits } : { ...budget }));
}

/**
 * The reason a model call was refused, for the step's error and the API client (a
 * tenant): which budget (scope and period), and for the tenant's and task's own budgets
 * their limit, what is spent and reserved, and what the call needed. The platform-wide
 * cap is named without figures: they are other tenants' spend.
 */
export function describeDenial(amountUsd: string, blocking: readonly BudgetSnapshot[]): string {
  const budgets = blocking.map((budget) => {
    if (budget.scope === 'global') return `the platform's ${PERIOD_WORDS[budget.period]} spend cap is exhausted`;
    const available = Decimal.max(0, new Decimal(budget.limitUsd).minus(budget.spentUsd).minus(budget.reservedUsd));
    return `the ${budget.scope} ${PERIOD_WORDS[budget.period]} budget has a limit of $${budget.limitUsd} with $${budget.spentUsd} spent and $${budget.reservedUsd} reserved ($${available.toFixed()} available)`;
  });
  return `Budget exceeded: this model call needs up to $${amountUsd}, but ${budgets.join('; and ')}.`;
}
