import { BudgetPeriod, BudgetScope } from '@atelier/persistence';

// One place for how a budget's scope and period are spelled in the API ("tenant", "day")
// and in the database (TENANT / scope_key "tenant:<id>", DAY).

export function scopeKeyOf(scope: 'global' | 'tenant' | 'task', ids: { tenantId?: string | null; taskId?: string | null }): string {
  if (scope === 'global') return 'global';
  if (scope === 'tenant') return `tenant:${ids.tenantId}`;
  return `task:${ids.taskId}`;
}

export function scopeFromApi(scope: 'global' | 'tenant' | 'task'): BudgetScope {
  return BudgetScope[scope.toUpperCase() as keyof typeof BudgetScope];
}

export function periodFromApi(period: 'total' | 'day' | 'month'): BudgetPeriod {
  return BudgetPeriod[period.toUpperCase() as keyof typeof BudgetPeriod];
}
