import type { StepKind } from '@atelier/contracts';
import type { AuditEventInput } from '@atelier/persistence';

/** Steps whose output is a plan: the steps made from it are what `task.planned` records. */
const PLANNING_KINDS: readonly StepKind[] = ['research.plan'];

/**
 * `task.planned` when the steps about to be inserted are the ones a completed planning step
 * decided (the research plan's questions, one investigation each). Written in the same
 * statement as those steps, first, so the timeline reads: the plan step completed, the
 * task was planned, its steps were queued. The questions themselves are in the plan step's
 * `step.completed` output (captured content), not repeated here.
 */
export function taskPlannedEvent(
  existing: readonly { key: string; kind: StepKind; status: string }[],
  planned: readonly { key: string; kind: StepKind; dependsOn: readonly string[] }[],
  common: Pick<AuditEventInput, 'actor' | 'tenantId' | 'traceId'> & { taskId: string },
): AuditEventInput | undefined {
  const plan = existing.find((step) => PLANNING_KINDS.includes(step.kind) && step.status === 'completed' && planned.some((next) => next.dependsOn.includes(step.key)));
  if (!plan) return undefined;
  const made = planned.filter((next) => next.dependsOn.includes(plan.key));
  return {
    ...common,
    action: 'task.planned',
    subject: `task:${common.taskId}`,
    data: { planStep: plan.key, count: made.length, steps: made.map((step) => ({ key: step.key, kind: step.kind })) },
  };
}
