import type { SchemaObject } from '@nestjs/swagger';
import { Prisma, stepStatusToApi, taskStatusToApi, type Step, type Task } from '@atelier/persistence';

/** The public shape of a task (ARCHITECTURE.md "API surface"); money as decimal strings. */
export interface TaskView {
  id: string;
  tenant: string;
  workflow: string;
  status: string;
  input: unknown;
  /** See TASK_RESULT_SCHEMA. */
  result?: { document?: string; partial?: true; failedSteps?: string[]; findings?: string[] };
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


/** The `result` of a task as OpenAPI documents it. */
export const TASK_RESULT_SCHEMA: SchemaObject = {
  type: 'object',
  description:
    'Completed: `{document}`; a completion whose workflow tolerated failed branches (some investigations failed, the draft went on) adds `partial: true` and `failedSteps` (their keys). ' +
    'Any other end keeps `{partial: true, document?, findings}` when a step had completed; absent when nothing was done.',
  properties: {
    document: { type: 'string', description: 'Markdown: the final document, or the latest draft of an unfinished task.' },
    partial: { type: 'boolean', enum: [true], description: 'Present (true) when the result lacks what some steps should have added.' },
    failedSteps: { type: 'array', items: { type: 'string' }, description: 'Completed tasks only: keys of the failed steps the workflow went on without, e.g. `investigate.2`.' },
    findings: { type: 'array', items: { type: 'string' }, description: 'Tasks that did not complete: the findings of every completed investigation.' },
  },
};
