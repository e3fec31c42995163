import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { SubmitTaskRequest } from '@atelier/contracts';
import { appendAudit, AuditContentCapture, Prisma, PrismaService } from '@atelier/persistence';
import type { TraceContext } from '@atelier/observability';
import type { Caller } from '../auth/caller';
import { ensureDefaultTenantBudget } from '../budgets/default-budgets';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { StepDispatcher } from '../coordinator/step-dispatcher';
import { Problem } from '../http/problem';
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
    private readonly dispatcher: StepDispatcher,
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    private readonly audit: AuditContentCapture,
  ) {}

  /**
   * ONE transaction writes the task, its budget (budgetUsd) and its tenant's default
   * budget when it has none, its first steps and their audit events; only after it
   * commits are the steps published. A publish that fails after commit leaves the
   * steps `queued` for the relay: accepted means durable.
   */
  async submit(
    caller: Caller,
    request: SubmitTaskRequest,
    context: { requestId: string; trace: TraceContext; idempotencyKey?: string },
  ): Promise<SubmittedTask> {
    const requestHash = createHash('sha256').update(JSON.stringify(request)).digest('hex');
    if (context.idempotencyKey) {
      const replay = await this.findReplay(caller.tenantId, context.idempotencyKey, requestHash);
      if (replay) return replay;
    }

    const workflow = workflowNamed(request.workflow);
    const plan = planNext(workflow, request.input, []);
    if (plan.type !== 'continue' || plan.newSteps.length === 0) throw new Error(`workflow ${workflow.name} has no first step`);

    let created;
    try {
      created = await this.prisma.$transaction(async (tx) => {
        const task = await tx.task.create({
          data: {
            tenantId: caller.tenantId,
            workflow: workflow.name,
            input: request.input,
            metadata: request.metadata ?? Prisma.DbNull,
            budgetUsd: request.budgetUsd ?? null,
            deadlineAt: request.deadlineSeconds ? new Date(Date.now() + request.deadlineSeconds * 1000) : null,
            idempotencyKey: context.idempotencyKey ?? null,
            requestHash,
            traceId: context.trace.traceId,
            responseCache: request.responseCache ?? true,
          },
        });
        if (request.budgetUsd) {
          await tx.budget.create({
            data: { scope: 'TASK', scopeKey: `task:${task.id}`, tenantId: caller.tenantId, taskId: task.id, period: 'TOTAL', limitUsd: request.budgetUsd, windowStart: task.createdAt },
          });
        }
        await ensureDefaultTenantBudget(tx, this.config, caller.tenantId);
        const steps = await tx.step.createManyAndReturn({
          data: plan.newSteps.map((step) => ({ taskId: task.id, key: step.key, kind: step.kind, agent: step.agent, dependsOn: step.dependsOn, input: step.input as Prisma.InputJsonObject })),
        });
        const common = { actor: caller.actor, tenantId: caller.tenantId, taskId: task.id, traceId: context.trace.traceId, requestId: context.requestId };
        await appendAudit(
          tx,
          {
            ...common,
            action: 'task.submitted',
            subject: `task:${task.id}`,
            data: { workflow: workflow.name, budgetUsd: request.budgetUsd ?? null, responseCache: request.responseCache ?? true, goal: this.audit.capture(request.input.goal) },
          },
          ...steps.map((step) => ({ ...common, action: 'step.queued' as const, subject: `step:${step.id}`, data: { key: step.key, kind: step.kind, agent: step.agent } })),
        );
        return { task, steps };
      });
    } catch (error) {
      // Two submits with the same Idempotency-Key raced: the loser answers like a replay.
      if (context.idempotencyKey && (error as { code?: string }).code === 'P2002') {
        const replay = await this.findReplay(caller.tenantId, context.idempotencyKey, requestHash);
        if (replay) return replay;
      }
      throw error;
    }

    await this.dispatcher
      .dispatch(created.steps.map((step) => ({ ...step, tenantId: caller.tenantId })), context.trace)
      .catch(() => undefined /* the steps stay queued; the relay publishes them */);
    return { id: created.task.id, status: 'queued', replayed: false };
  }

  private async findReplay(tenantId: string, idempotencyKey: string, requestHash: string): Promise<SubmittedTask | undefined> {
    const existing = await this.prisma.task.findUnique({ where: { tenantId_idempotencyKey: { tenantId, idempotencyKey } } });
    if (!existing) return undefined;
    if (existing.requestHash !== requestHash) {
      throw Problem.unprocessable('This Idempotency-Key was already used with a different request body.');
    }
    return { id: existing.id, status: existing.status.toLowerCase(), replayed: true };
  }
}
