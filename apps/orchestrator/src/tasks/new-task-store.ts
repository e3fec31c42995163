import { Inject, Injectable } from '@nestjs/common';
import { arrayRows, auditRowsFrom, CallGrouper, eachKeyOncePerStatement, initialWindowStart, namedStatement, PrismaService } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { stepRowsFrom } from '../coordinator/step-rows';

/** A task as submitted, ready to write: JSON columns as JSON text. */
export interface NewTask {
  id: string;
  tenantId: string;
  workflow: string;
  input: string;
  metadata: string | null;
  budgetUsd: string | null;
  deadlineSeconds: number | null;
  idempotencyKey: string | null;
  requestHash: string;
  traceId: string | null;
  responseCache: boolean;
  /** Its first steps (stepRowsJson) and its audit events (auditJson). */
  steps: string;
  events: string;
}

/** The budget a tenant without one gets at its first task; without a limit, none. */
export type DefaultTenantBudget = Pick<OrchestratorConfig, 'ATELIER_DEFAULT_TENANT_BUDGET_USD' | 'ATELIER_DEFAULT_TENANT_BUDGET_PERIOD'>;

/**
 * Submits of a group: each task, its budget (budget_usd), its first steps and their audit
 * events; a tenant without any budget gets the default one, once (audited `budget.updated`,
 * before its first task's events). A repeated Idempotency-Key inserts nothing (`ON
 * CONFLICT DO NOTHING` on the per-tenant unique key), which also settles two concurrent
 * submits with the same key. Arrays $1-$13: the NewTask fields; $14-$16 the default
 * tenant budget's period, limit (null: none) and window start. Answers the ids created.
 */
const SUBMIT = namedStatement(
  'task.submit.v2',
  `
WITH req AS MATERIALIZED (
  ${arrayRows(
    ['$1::uuid[]', '$2::uuid[]', '$3::text[]', '$4::jsonb[]', '$5::jsonb[]', '$6::numeric[]', '$7::float8[]', '$8::text[]', '$9::text[]', '$10::text[]', '$11::boolean[]', '$12::jsonb[]', '$13::jsonb[]'],
    ['id', 'tenant_id', 'workflow', 'input', 'metadata', 'budget_usd', 'deadline_seconds', 'idempotency_key', 'request_hash', 'trace_id', 'response_cache', 'steps', 'events'],
    'ord',
  )}
), task AS (
  INSERT INTO tasks (id, tenant_id, workflow, input, metadata, budget_usd, deadline_at, idempotency_key, request_hash, trace_id, response_cache)
  SELECT r.id, r.tenant_id, r.workflow, r.input, r.metadata, r.budget_usd, now() + r.deadline_seconds * interval '1 second',
         r.idempotency_key, r.request_hash, r.trace_id, r.response_cache
  FROM req r ORDER BY r.ord
  ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
  RETURNING id, created_at
), created AS MATERIALIZED (
  SELECT r.*, task.created_at FROM req r JOIN task ON task.id = r.id
), steps AS (
  INSERT INTO steps (id, task_id, key, kind, agent, depends_on, input)
  SELECT s.id, c.id, s.key, s.kind, s.agent, s.depends_on, s.input
  FROM created c CROSS JOIN LATERAL ${stepRowsFrom('c.steps')}
), task_budget AS (
  INSERT INTO budgets (scope, scope_key, tenant_id, task_id, period, limit_usd, window_start, updated_at)
  SELECT 'task', 'task:' || c.id, c.tenant_id, c.id, 'total', c.budget_usd, c.created_at, now() FROM created c WHERE c.budget_usd IS NOT NULL
), first_of_tenant AS (
  SELECT DISTINCT ON (c.tenant_id) c.tenant_id, c.ord FROM created c ORDER BY c.tenant_id, c.ord
), tenant_budget AS (
  -- Unless the tenant has a budget of any period already: an admin's PUT wins over the default.
  INSERT INTO budgets (scope, scope_key, tenant_id, period, limit_usd, window_start, updated_at)
  SELECT 'tenant', 'tenant:' || f.tenant_id, f.tenant_id, $14::budget_period, $15::numeric, $16, now() FROM first_of_tenant f
  WHERE $15::numeric IS NOT NULL AND NOT EXISTS (SELECT 1 FROM budgets WHERE scope_key = 'tenant:' || f.tenant_id)
  ON CONFLICT (scope_key, period) DO NOTHING
  RETURNING id, tenant_id
), audit AS (
  INSERT INTO audit_events (actor, action, subject, tenant_id, task_id, trace_id, request_id, data)
  SELECT actor, action, subject, tenant_id, task_id, trace_id, request_id, data FROM (
    SELECT f.ord, 0::bigint AS event_ord, 'service:orchestrator' AS actor, 'budget.updated' AS action, 'budget:' || b.id AS subject,
           b.tenant_id, NULL::uuid AS task_id, NULL::text AS trace_id, NULL::text AS request_id,
           jsonb_build_object('scope', 'tenant', 'scopeKey', 'tenant:' || b.tenant_id, 'period', $14::budget_period, 'limitUsd', $15::numeric::text,
                              'previousLimitUsd', NULL, 'created', true, 'reason', 'default tenant budget (ATELIER_DEFAULT_TENANT_BUDGET_USD)') AS data
    FROM tenant_budget b JOIN first_of_tenant f ON f.tenant_id = b.tenant_id
    UNION ALL
    SELECT c.ord, e.ord, e.actor, e.action, e.subject, e.tenant_id, e.task_id, e.trace_id, e.request_id, e.data
    FROM created c CROSS JOIN LATERAL (${auditRowsFrom('c.events')}) e
  ) events ORDER BY ord, event_ord
)
SELECT coalesce(array_agg(id::text), '{}') AS created FROM task`,
);

const COLUMNS = [
  'id',
  'tenantId',
  'workflow',
  'input',
  'metadata',
  'budgetUsd',
  'deadlineSeconds',
  'idempotencyKey',
  'requestHash',
  'traceId',
  'responseCache',
  'steps',
  'events',
] as const satisfies readonly (keyof NewTask)[];

/**
 * Writes submitted tasks: ONE statement (one round trip, one commit) per group of
 * submits that arrive while one is being written (group commit), as the coordinator's
 * writes are. A tenant's Idempotency-Key is in a statement once: a repeat goes in the
 * next, where it finds the first.
 */
@Injectable()
export class NewTaskStore {
  private readonly inserts = new CallGrouper<NewTask, boolean>((group) =>
    eachKeyOncePerStatement(group, (task) => `${task.tenantId.toLowerCase()}/${task.idempotencyKey ?? task.id}`, (tasks) => this.insertStatement(tasks)),
  );

  constructor(
    private readonly prisma: PrismaService,
    @Inject(ORCHESTRATOR_CONFIG) private readonly tenantDefault: DefaultTenantBudget,
  ) {}

  /** True when the task was written; false when its Idempotency-Key already names a task of its tenant. */
  insert(task: NewTask): Promise<boolean> {
    return this.inserts.submit(task);
  }

  private async insertStatement(tasks: NewTask[]): Promise<boolean[]> {
    const period = this.tenantDefault.ATELIER_DEFAULT_TENANT_BUDGET_PERIOD;
    const { rows } = await this.prisma.pool.query<{ created: string[] }>({
      ...SUBMIT,
      values: [
        ...COLUMNS.map((column) => tasks.map((task) => task[column])),
        period,
        this.tenantDefault.ATELIER_DEFAULT_TENANT_BUDGET_USD ?? null,
        initialWindowStart(period, new Date()),
      ],
    });
    const created = new Set(rows[0]?.created ?? []);
    return tasks.map((task) => created.has(task.id.toLowerCase()));
  }
}
