import { Injectable } from '@nestjs/common';
import type { AgentName, AuditAction, StepError } from '@atelier/contracts';
import { appendAudit, AuditContentCapture, type AuditEventInput, Prisma, PrismaService, type Step, StepStatus, TaskStatus } from '@atelier/persistence';

export interface StepIdentity {
  taskId: string;
  stepId: string;
  tenantId: string;
  traceId: string;
}

export type Claim =
  | { type: 'claimed'; step: Step }
  | { type: 'finished'; step: Step }
  | { type: 'missing' };

/** The audit envelope every agent write shares: who (the agent), which step, which task and trace. */
function stepEvent(id: StepIdentity, agent: AgentName, action: AuditAction, data: Prisma.InputJsonObject, requestId?: string | null): AuditEventInput {
  return { action, actor: `service:${agent}-agent`, subject: `step:${id.stepId}`, tenantId: id.tenantId, taskId: id.taskId, traceId: id.traceId, requestId: requestId ?? null, data };
}

/** The agent's writes: each state change and its audit event in one transaction. */
@Injectable()
export class StepStore {
  constructor(
    private readonly prisma: PrismaService,
    private readonly audit: AuditContentCapture,
  ) {}

  /**
   * Takes a step for execution. A queued step, or a running one whose earlier delivery
   * died (JetStream redelivers only unacknowledged messages), is claimed; a finished one
   * is reported so its stored result can be re-published instead of running it again.
   */
  claim(id: StepIdentity, agent: AgentName): Promise<Claim> {
    return this.prisma.$transaction(async (tx) => {
      const claimed = await tx.step.updateManyAndReturn({
        where: { id: id.stepId, taskId: id.taskId, agent, status: { in: [StepStatus.QUEUED, StepStatus.RUNNING] } },
        data: { status: StepStatus.RUNNING, attempt: { increment: 1 }, startedAt: new Date() },
      });
      const step = claimed[0];
      if (!step) {
        const existing = await tx.step.findFirst({ where: { id: id.stepId, taskId: id.taskId } });
        return existing ? { type: 'finished', step: existing } : { type: 'missing' };
      }
      await tx.task.updateMany({ where: { id: id.taskId, status: TaskStatus.QUEUED }, data: { status: TaskStatus.RUNNING } });
      await appendAudit(tx, stepEvent(id, agent, 'step.started', { key: step.key, kind: step.kind, attempt: step.attempt }));
      return { type: 'claimed', step };
    });
  }

  /** Completes a running step; false when it was no longer running (someone else finished it). */
  complete(id: StepIdentity, agent: AgentName, output: Record<string, unknown>): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const { count } = await tx.step.updateMany({
        where: { id: id.stepId, status: StepStatus.RUNNING },
        data: { status: StepStatus.COMPLETED, output: output as Prisma.InputJsonObject, error: Prisma.DbNull, completedAt: new Date() },
      });
      if (count === 0) return false;
      await appendAudit(tx, stepEvent(id, agent, 'step.completed', { output: this.audit.capture(JSON.stringify(output)) }));
      return true;
    });
  }

  fail(id: StepIdentity, agent: AgentName, error: StepError): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const { count } = await tx.step.updateMany({
        where: { id: id.stepId, status: { in: [StepStatus.QUEUED, StepStatus.RUNNING] } },
        data: { status: StepStatus.FAILED, error, completedAt: new Date() },
      });
      if (count === 0) return false;
      await appendAudit(tx, stepEvent(id, agent, 'step.failed', { ...error }));
      return true;
    });
  }
}
