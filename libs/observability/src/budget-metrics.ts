import { Counter, type Registry } from 'prom-client';

/** `atelier_budget_alerts_total{scope,threshold}`: counted by whichever process settles the spend that crossed it. */
export function createBudgetAlertCounter(registry: Registry): Counter<'scope' | 'threshold'> {
  return new Counter({
    name: 'atelier_budget_alerts_total',
    help: 'Budget alert thresholds crossed (each fires once per budget window)',
    labelNames: ['scope', 'threshold'],
    registers: [registry],
  });
}
