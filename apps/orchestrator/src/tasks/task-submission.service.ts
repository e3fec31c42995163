import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { SubmitTaskRequest } from '@atelier/contracts';
import { AuditContentCapture, auditJson, PrismaService } from '@atelier/persistence';
import { crashPoint, METRICS_CATALOG, type MetricsCatalog, type TraceIds } from '@atelier/observability';
import type { Caller } from '../auth/caller';
import { StepDispatcher } from '../coordinator/step-dispatcher';
import { stepRowsJson } from '../coordinator/step-rows';
import { queuedStep, TaskSnapshots } from '../coordinator/task-snapshots';
import { Problem } from '../http/problem';
import { guardrailFlaggedEvent, screenTaskInput } from './input-guardrail';
import { NewTaskStore } from './new-task-store';
import { planNext } from '../workflows/workflow-planner';
import { workflowNamed } from '../workflows/workflow-registry';

export interface SubmittedTask {
  id: string;
  status: string;
  replayed: boolean;
}

@Injectable()
export class TaskSubmissionService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly tasks: NewTaskStore,
    private readonly dispatcher: StepDispatcher,
    private readonly snapshots: TaskSnapshots,
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
    const created = await this.tasks.insert({
      id: taskId,
      tenantId: caller.tenantId,
      workflow: workflow.name,
      input: JSON.stringify(request.input),
      metadata: request.metadata ? JSON.stringify(request.metadata) : null,
      budgetUsd: request.budgetUsd ?? null,
      deadlineSeconds: request.deadlineSeconds ?? null,
      idempotencyKey: context.idempotencyKey ?? null,
      requestHash,
      traceId: context.trace.traceId,
      responseCache,
      steps: stepRowsJson(steps),
      events: audit,
    });
    if (!created) return this.replay(caller.tenantId, context.idempotencyKey as string, requestHash);

    this.metrics.tasks.inc({ status: 'queued' });
    // As written: its first result can then be planned without reading it back (TaskAdvancer).
    this.snapshots.keep({
      id: taskId,
      tenantId: caller.tenantId,
      workflow: workflow.name,
      status: 'queued',
      input: request.input,
      version: 0,
      traceId: context.trace.traceId ?? null,
      // The database's clock set the deadline; planning does not read it.
      deadlineAt: null,
      steps: steps.map(queuedStep),
    });
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
