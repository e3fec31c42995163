import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { SubmitTaskRequest } from '@atelier/contracts';
import { AuditContentCapture, auditJson, auditRowsFrom, initialWindowStart, namedStatement, PrismaService } from '@atelier/persistence';
import { crashPoint, METRICS_CATALOG, type MetricsCatalog, type TraceIds } from '@atelier/observability';
import type { Caller } from '../auth/caller';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { StepDispatcher } from '../coordinator/step-dispatcher';
import { stepRowsFrom, stepRowsJson } from '../coordinator/step-rows';
import { Problem } from '../http/problem';
import { guardrailFlaggedEvent, screenTaskInput } from './input-guardrail';
import { planNext } from '../workflows/workflow-planner';
import { workflowNamed } from '../workflows/workflow-registry';

export interface SubmittedTask {
  id: string;
  status: string;
  replayed: boolean;
}

/**
 * The task, its budget (budgetUsd), its tenant's default budget when the tenant has none
 * (audited `budget.updated`), its first steps and their audit events, in ONE statement:
 * one round trip, one commit. A repeated Idempotency-Key inserts nothing (`ON CONFLICT
 * DO NOTHING` on the per-tenant unique key), which also settles two concurrent submits
 * with the same key.
 */
const SUBMIT = namedStatement(
  'task.submit',
  `
WITH task AS (
  INSERT INTO tasks (id, tenant_id, workflow, input, metadata, budget_usd, deadline_at, idempotency_key, request_hash, trace_id, response_cache)
  VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::numeric, now() + $7 * interval '1 second', $8, $9, $10, $11)
  ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
  RETURNING id, created_at
), steps AS (
  INSERT INTO steps (id, task_id, key, kind, agent, depends_on, input)
  SELECT s.id, task.id, s.key, s.kind, s.agent, s.depends_on, s.input
  FROM task CROSS JOIN ${stepRowsFrom('$12')}
), task_budget AS (
  INSERT INTO budgets (scope, scope_key, tenant_id, task_id, period, limit_usd, window_start, updated_at)
  SELECT 'task', 'task:' || task.id, $2, task.id, 'total', $6::numeric, task.created_at, now() FROM task WHERE $6::numeric IS NOT NULL
), tenant_budget AS (
  -- Unless the tenant has a budget of any period already: an admin's PUT wins over the default.
  INSERT INTO budgets (scope, scope_key, tenant_id, period, limit_usd, window_start, updated_at)
  SELECT 'tenant', 'tenant:' || $2, $2, $14::budget_period, $15::numeric, $16, now() FROM task
  WHERE $15::numeric IS NOT NULL AND NOT EXISTS (SELECT 1 FROM budgets WHERE scope_key = 'tenant:' || $2)
  ON CONFLICT (scope_key, period) DO NOTHING
  RETURNING id
), audit AS (
  INSERT INTO audit_events (actor, action, subject, tenant_id, task_id, trace_id, request_id, data)
  SELECT actor, action, subject, tenant_id, task_id, trace_id, request_id, data FROM (
    SELECT 0 AS ord, 'service:orchestrator' AS actor, 'budget.updated' AS action, 'budget:' || b.id AS subject, $2::uuid AS tenant_id,
           NULL::uuid AS task_id, NULL::text AS trace_id, NULL::text AS request_id, $17::jsonb AS data
    FROM tenant_budget b
    UNION ALL
    SELECT e.ord, e.actor, e.action, e.subject, e.tenant_id, e.task_id, e.trace_id, e.request_id, e.data
    FROM (${auditRowsFrom('$13')}) e WHERE EXISTS (SELECT 1 FROM task)
  ) events ORDER BY ord
)
SELECT (SELECT count(*) FROM task)::int AS created`,
);

@Injectable()
export class TaskSubmissionService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly dispatcher: StepDispatcher,
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    private readonly audit: AuditContentCapture,
    @Inject(METRICS_CATALOG) private readonly metrics: MetricsCatalog,
  ) {}

  /**
   * Writes the task durably, then publishes its first steps. A publish that fails after
   * commit leaves the steps `queued` for the relay: accepted means durable.
   */
  async submit(
    caller: Caller,
    submitted: SubmitTaskRequest,
    context: { requestId: string; trace: TraceIds; idempotencyKey?: string },
  ): Promise<SubmittedTask> {
    // Everything stored comes from the screened request, the Idempotency-Key's hash too: a hash
    // of the original would let anyone holding the masked text guess a weak secret offline.
    // Two bodies that differ only in a masked secret make the same task, so they replay alike.
    const { request, findings } = screenTaskInput(submitted);
    const requestHash = createHash('sha256').update(JSON.stringify(request)).digest('hex');
    const workflow = workflowNamed(request.workflow);
    const plan = planNext(workflow, request.input, []);
    if (plan.type !== 'continue' || plan.newSteps.length === 0) throw new Error(`workflow ${workflow.name} has no first step`);

    const taskId = randomUUID();
    const steps = plan.newSteps.map((step) => ({ ...step, id: randomUUID() }));
    const responseCache = request.responseCache ?? true;
    const common = { actor: caller.actor, tenantId: caller.tenantId, taskId, traceId: context.trace.traceId, requestId: context.requestId };
    const audit = auditJson([
      {
        ...common,
        action: 'task.submitted',
        subject: `task:${taskId}`,
        data: { workflow: workflow.name, budgetUsd: request.budgetUsd ?? null, responseCache, goal: this.audit.capture(request.input.goal) },
      },
      ...[guardrailFlaggedEvent(findings, common)].filter((event) => event !== undefined),
      ...steps.map((step) => ({ ...common, action: 'step.queued' as const, subject: `step:${step.id}`, data: { key: step.key, kind: step.kind, agent: step.agent } })),
    ]);
    const defaultLimit = this.config.ATELIER_DEFAULT_TENANT_BUDGET_USD ?? null;
    const defaultPeriod = this.config.ATELIER_DEFAULT_TENANT_BUDGET_PERIOD;
    const { rows } = await this.prisma.pool.query<{ created: number }>({
      ...SUBMIT,
      values: [
        taskId,
        caller.tenantId,
        workflow.name,
        JSON.stringify(request.input),
        request.metadata ? JSON.stringify(request.metadata) : null,
        request.budgetUsd ?? null,
        request.deadlineSeconds ?? null,
        context.idempotencyKey ?? null,
        requestHash,
        context.trace.traceId,
        responseCache,
        stepRowsJson(steps),
        audit,
        defaultPeriod,
        defaultLimit,
        initialWindowStart(defaultPeriod, new Date()),
        JSON.stringify({
          scope: 'tenant',
          scopeKey: `tenant:${caller.tenantId}`,
          period: defaultPeriod,
          limitUsd: defaultLimit,
          previousLimitUsd: null,
          created: true,
          reason: 'default tenant budget (ATELIER_DEFAULT_TENANT_BUDGET_USD)',
        }),
      ],
    });
    if (rows[0]?.created !== 1) return this.replay(caller.tenantId, context.idempotencyKey as string, requestHash);

    this.metrics.tasks.inc({ status: 'queued' });
    crashPoint('orchestrator:after-submit-commit');
    await this.dispatcher
      .dispatch(steps.map((step) => ({ ...step, taskId, tenantId: caller.tenantId, dispatchSeq: 1 })))
      .catch(() => undefined /* the steps stay queued; the relay publishes them */);
    return { id: taskId, status: 'queued', replayed: false };
  }

  /** Same key and body: the task already made. Same key, another body: 422. */
  private async replay(tenantId: string, idempotencyKey: string, requestHash: string): Promise<SubmittedTask> {
    const existing = await this.prisma.task.findUnique({ where: { tenantId_idempotencyKey: { tenantId, idempotencyKey } } });
    if (!existing) throw new Error('submit inserted nothing, yet no task holds its Idempotency-Key');
    if (existing.requestHash !== requestHash) {
      throw Problem.unprocessable('This Idempotency-Key was already used with a different request body.');
    }
    return { id: existing.id, status: existing.status.toLowerCase(), replayed: true };
  }
}
