import { describeDenial, tenantSafeBlocking } from './budget-denial';
import type { BudgetSnapshot } from './spend-ledger';

describe(describeDenial.name, () => {
  const global: BudgetSnapshot = { id: 'g', scope: 'global', scopeKey: 'global', period: 'month', limitUsd: '5000', spentUsd: '4999.99', reservedUsd: '0.005', fits: false };
  const tenant: BudgetSnapshot = { id: 't', scope: 'tenant', scopeKey: 'tenant:acme-id', period: 'day', limitUsd: '0.05', spentUsd: '0.04', reservedUsd: '0.009', fits: false };

  it("gives a tenant its own budget's figures and only the fact that the platform's cap is exhausted", () => {
    const text = describeDenial('0.0123', [tenant, global]);
    expect(text).toBe(
      "Budget exceeded: this model call needs up to $0.0123, but the tenant daily budget has a limit of $0.05 with $0.04 spent and $0.009 reserved ($0.001 available); and the platform's monthly spend cap is exhausted.",
    );
    for (const figure of ['5000', '4999.99', '0.005']) expect(text).not.toContain(figure);
  });

  it('keeps the global budget out of the audit data a tenant reads, figures and key alike', () => {
    const safe = tenantSafeBlocking([tenant, global]);
    expect(safe).toEqual([tenant, { id: 'g', scope: 'global', period: 'month', fits: false }]);
    expect(JSON.stringify(safe)).not.toMatch(/5000|4999|0\.005/);
  });
});
