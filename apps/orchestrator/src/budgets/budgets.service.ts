import { Inject, Injectable } from '@nestjs/common';
import { DEFAULT_ALERT_THRESHOLDS, type ListBudgetsQuery, type PutBudgetRequest } from '@atelier/contracts';
import { appendAudit, type Clock, initialWindowStart, PrismaService, readBudgetBalances } from '@atelier/persistence';
import { type Caller, isAdmin } from '../auth/caller';
import { Problem } from '../http/problem';
import { BUDGET_CLOCK } from './budget-clock';
import { periodFromApi, scopeFromApi, scopeKeyOf } from './budget-scope';
import { type BudgetView, toBudgetView } from './budget-view';

export interface PutBudgetResult {
  budget: BudgetView;
  created: boolean;
}

@Injectable()
export class BudgetsService {
  constructor(
    private readonly prisma: PrismaService,
    @Inject(BUDGET_CLOCK) private readonly clock: Clock,
  ) {}

  /**
   * Admins see every budget; a tenant sees its own tenant budgets and its tasks' budgets,
   * never the global one, and another tenant's name or task answers 404.
   */
  async list(caller: Caller, query: ListBudgetsQuery): Promise<{ items: BudgetView[]; nextCursor: string | null }> {
    let tenantId: string | undefined;
    if (query.tenant) {
      const tenant = await this.prisma.tenant.findUnique({ where: { name: query.tenant } });
      if (!tenant || (!isAdmin(caller) && tenant.id !== caller.tenantId)) throw Problem.notFound(`No tenant ${query.tenant}.`);
      tenantId = tenant.id;
    }
    if (!isAdmin(caller)) tenantId = caller.tenantId;
    if (query.taskId) {
      const task = await this.prisma.task.findFirst({ where: { id: query.taskId, ...(tenantId ? { tenantId } : {}) } });
      if (!task) throw Problem.notFound(`No task ${query.taskId}.`);
    }
    const rows = await this.prisma.budget.findMany({
      where: {
        ...(tenantId ? { tenantId } : {}),
        ...(query.scope ? { scope: scopeFromApi(query.scope) } : {}),
        ...(query.taskId ? { taskId: query.taskId } : {}),
        ...(query.cursor ? { id: { gt: query.cursor } } : {}),
      },
      orderBy: { id: 'asc' },
      take: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const [names, balances] = await Promise.all([this.tenantNames(page.map((row) => row.tenantId)), readBudgetBalances(this.prisma, page.map((row) => row.id))]);
    const now = this.clock.now();
    return {
      items: page.map((row) => toBudgetView(row, balances.get(row.id), row.tenantId ? names.get(row.tenantId) : undefined, now)),
      nextCursor: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null,
    };
  }

  /** Creates or replaces the budget of one scope and period, with its `budget.updated` audit event. */
  async put(caller: Caller, body: PutBudgetRequest, context: { requestId: string; traceId: string }): Promise<PutBudgetResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.putOnce(caller, body, context);
      } catch (error) {
        // Two PUTs created the same budget at once: the loser runs again as an update.
        if ((error as { code?: string }).code !== 'P2002' || attempt > 1) throw error;
      }
    }
  }

  private putOnce(caller: Caller, body: PutBudgetRequest, context: { requestId: string; traceId: string }): Promise<PutBudgetResult> {
    return this.prisma.$transaction(async (tx) => {
      let tenantId: string | null = null;
      let tenantName: string | undefined;
      let taskId: string | null = null;
      if (body.tenant) {
        const tenant = await tx.tenant.findUnique({ where: { name: body.tenant } });
        if (!tenant) throw Problem.notFound(`No tenant ${body.tenant}.`);
        [tenantId, tenantName] = [tenant.id, tenant.name];
      }
      if (body.taskId) {
        const task = await tx.task.findUnique({ where: { id: body.taskId }, include: { tenant: true } });
        if (!task) throw Problem.notFound(`No task ${body.taskId}.`);
        [tenantId, tenantName, taskId] = [task.tenantId, task.tenant.name, task.id];
        // The task's own budgetUsd is this budget: keep the two in step.
        await tx.task.update({ where: { id: task.id }, data: { budgetUsd: body.limitUsd } });
      }
      const scopeKey = scopeKeyOf(body.scope, { tenantId, taskId });
      const period = periodFromApi(body.period);
      const [previous] = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM budgets WHERE scope_key = ${scopeKey} AND period = ${body.period}::budget_period FOR UPDATE`;
      const before = previous ? await tx.budget.findUniqueOrThrow({ where: { id: previous.id } }) : undefined;
      const now = this.clock.now();
      const thresholds = body.alertThresholds ? [...body.alertThresholds].sort((a, b) => a - b) : undefined;
      const budget = before
        ? await tx.budget.update({ where: { id: before.id }, data: { limitUsd: body.limitUsd, ...(thresholds ? { alertThresholds: thresholds } : {}) } })
        : await tx.budget.create({
            data: {
              scope: scopeFromApi(body.scope),
              scopeKey,
              tenantId,
              taskId,
              period,
              limitUsd: body.limitUsd,
              windowStart: initialWindowStart(period, now),
              alertThresholds: thresholds ?? [...DEFAULT_ALERT_THRESHOLDS],
            },
          });
      await appendAudit(tx, {
        action: 'budget.updated',
        actor: caller.actor,
        subject: `budget:${budget.id}`,
        tenantId,
        taskId,
        requestId: context.requestId,
        traceId: context.traceId,
        data: {
          scope: body.scope,
          scopeKey,
          period: body.period,
          limitUsd: budget.limitUsd.toFixed(),
          previousLimitUsd: before ? before.limitUsd.toFixed() : null,
          alertThresholds: budget.alertThresholds,
          created: !before,
        },
      });
      const balances = await readBudgetBalances(tx, [budget.id]);
      return { budget: toBudgetView(budget, balances.get(budget.id), tenantName, now), created: !before };
    });
  }

  private async tenantNames(ids: (string | null)[]): Promise<Map<string, string>> {
    const unique = [...new Set(ids.filter((id): id is string => id !== null))];
    if (unique.length === 0) return new Map();
    const tenants = await this.prisma.tenant.findMany({ where: { id: { in: unique } } });
    return new Map(tenants.map((tenant) => [tenant.id, tenant.name]));
  }
}
