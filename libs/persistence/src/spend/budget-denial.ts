import Decimal from 'decimal.js';
import type { BudgetSnapshot } from './spend-ledger';

const PERIOD_WORDS = { total: 'total', day: 'daily', month: 'monthly' } as const;

/**
 * The reason a model call was refused, for the step's error and the API client:
 * which budget (scope and period), its limit, what is spent and reserved, and what the
 * call needed.
 */
export function describeDenial(amountUsd: string, blocking: readonly BudgetSnapshot[]): string {
  const budgets = blocking.map((budget) => {
    const available = Decimal.max(0, new Decimal(budget.limitUsd).minus(budget.spentUsd).minus(budget.reservedUsd));
    return `the ${budget.scope} ${PERIOD_WORDS[budget.period]} budget has a limit of $${budget.limitUsd} with $${budget.spentUsd} spent and $${budget.reservedUsd} reserved ($${available.toFixed()} available)`;
  });
  return `Budget exceeded: this model call needs up to $${amountUsd}, but ${budgets.join('; and ')}.`;
}
