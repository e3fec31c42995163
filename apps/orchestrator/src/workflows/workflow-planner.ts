import { agentOf, type AgentName, type StepKind, type StepStatus } from '@atelier/contracts';
import type { WorkflowDefinition } from './workflow-definition';

export interface StepState {
  readonly key: string;
  readonly status: StepStatus;
  readonly output: unknown;
  readonly error?: unknown;
}

export interface NewStep {
  readonly key: string;
  readonly kind: StepKind;
  readonly agent: AgentName;
  readonly dependsOn: string[];
  readonly input: Record<string, unknown>;
}

export type Plan =
  | { readonly type: 'continue'; readonly newSteps: NewStep[] }
  | { readonly type: 'complete'; readonly document: string }
  | { readonly type: 'fail'; readonly failedStep: string; readonly error: unknown };

/**
 * Pure: from the workflow and the task's current step rows, decide what happens next.
 * Steps already present are never planned again, so replaying a result is harmless.
 */
export function planNext(workflow: WorkflowDefinition, taskInput: { goal: string }, steps: readonly StepState[]): Plan {
  const byKey = new Map(steps.map((step) => [step.key, step]));
  const failed = steps.find((step) => step.status === 'failed' || step.status === 'dead_lettered');
  if (failed) return { type: 'fail', failedStep: failed.key, error: failed.error };

  const result = byKey.get(workflow.resultStep);
  if (result?.status === 'completed') {
    return { type: 'complete', document: String((result.output as { document?: unknown })?.document ?? '') };
  }

  const outputs = Object.fromEntries(steps.filter((s) => s.status === 'completed').map((s) => [s.key, s.output]));
  const newSteps = workflow.steps
    .filter((def) => !byKey.has(def.key) && def.dependsOn.every((dep) => byKey.get(dep)?.status === 'completed'))
    .map((def) => ({
      key: def.key,
      kind: def.kind,
      agent: agentOf(def.kind),
      dependsOn: [...def.dependsOn],
      input: def.input({ taskInput, outputs }),
    }));
  return { type: 'continue', newSteps };
}
