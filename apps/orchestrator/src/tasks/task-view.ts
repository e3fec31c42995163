import { Prisma, stepStatusToApi, taskStatusToApi, type Step, type Task } from '@atelier/persistence';

/** The public shape of a task (ARCHITECTURE.md "API surface"); money as decimal strings. */
export interface TaskView {
  id: string;
  tenant: string;
  workflow: string;
  status: string;
  input: unknown;
  /** `{document}` when completed; `{partial: true, document?, findings}` when it ended otherwise with some work done. */
  result?: { document?: string; partial?: true; findings?: string[] };
  error?: unknown;
  steps: { id: string; key: string; kind: string; agent: string; status: string; attempts: number; costUsd: string }[];
  costUsd: string;
  budgetUsd?: string;
  metadata?: unknown;
  createdAt: string;
  updatedAt: string;
  completedAt?: string;
}

export function toTaskView(task: Task, tenantName: string, steps: Step[], costByStep: Map<string, Prisma.Decimal>): TaskView {
  const stepViews = steps.map((step) => ({
    id: step.id,
    key: step.key,
    kind: step.kind,
    agent: step.agent,
    status: stepStatusToApi(step.status),
    attempts: step.attempt,
    costUsd: (costByStep.get(step.id)?.toFixed() ?? '0'),
  }));
  const total = [...costByStep.values()].reduce((sum, cost) => sum.plus(cost), new Prisma.Decimal(0));
  return {
    id: task.id,
    tenant: tenantName,
    workflow: task.workflow,
    status: taskStatusToApi(task.status),
    input: task.input,
    ...(task.result ? { result: task.result as TaskView['result'] } : {}),
    ...(task.error ? { error: task.error } : {}),
    steps: stepViews,
    costUsd: total.toFixed(),
    ...(task.budgetUsd ? { budgetUsd: task.budgetUsd.toFixed() } : {}),
    ...(task.metadata ? { metadata: task.metadata } : {}),
    createdAt: task.createdAt.toISOString(),
    updatedAt: task.updatedAt.toISOString(),
    ...(task.completedAt ? { completedAt: task.completedAt.toISOString() } : {}),
  };
}

