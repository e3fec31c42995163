import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { type Actor, appendAudit, type Clock, initialWindowStart, type Prisma, PrismaService } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { BUDGET_CLOCK } from './budget-clock';

interface BudgetSpec {
  scope: 'global' | 'tenant';
  scopeKey: string;
  tenantId: string | null;
  period: 'total' | 'day' | 'month';
  limitUsd: string;
}

type Tx = Prisma.TransactionClient;

/**
 * Creates a budget from configuration unless its scope already has one (of any period:
 * an admin's PUT wins over the default). Audited as `budget.updated` when created.
 */
async function createUnlessScopeHasOne(tx: Tx, spec: BudgetSpec, now: Date, actor: Actor, reason: string): Promise<void> {
  const windowStart = initialWindowStart(spec.period, now);
  const created = await tx.$queryRaw<{ id: string }[]>`
    INSERT INTO budgets (scope, scope_key, tenant_id, period, limit_usd, window_start, updated_at)
    SELECT ${spec.scope}::budget_scope, ${spec.scopeKey}, ${spec.tenantId}::uuid, ${spec.period}::budget_period, ${spec.limitUsd}::numeric, ${windowStart}, now()
     WHERE NOT EXISTS (SELECT 1 FROM budgets WHERE scope_key = ${spec.scopeKey})
    ON CONFLICT (scope_key, period) DO NOTHING
    RETURNING id::text`;
  const [budget] = created;
  if (!budget) return;
  await appendAudit(tx, {
    action: 'budget.updated',
    actor,
    subject: `budget:${budget.id}`,
    tenantId: spec.tenantId,
    data: { scope: spec.scope, scopeKey: spec.scopeKey, period: spec.period, limitUsd: spec.limitUsd, previousLimitUsd: null, created: true, reason },
  });
}

/** ATELIER_GLOBAL_BUDGET_USD: the platform-wide cap, seeded at start-up when there is none (idempotent across replicas). */
@Injectable()
export class GlobalBudgetSeeder implements OnApplicationBootstrap {
  constructor(
    private readonly prisma: PrismaService,
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    @Inject(BUDGET_CLOCK) private readonly clock: Clock,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const limitUsd = this.config.ATELIER_GLOBAL_BUDGET_USD;
    if (!limitUsd) return;
    await this.prisma.$transaction((tx) =>
      createUnlessScopeHasOne(
        tx,
        { scope: 'global', scopeKey: 'global', tenantId: null, period: this.config.ATELIER_GLOBAL_BUDGET_PERIOD, limitUsd },
        this.clock.now(),
        'service:orchestrator',
        'global budget (ATELIER_GLOBAL_BUDGET_USD)',
      ),
    );
  }
}
