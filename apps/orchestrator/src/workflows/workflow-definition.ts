import type { StepKind, WorkflowName } from '@atelier/contracts';

/** What a step definition sees when the planner builds its input. */
export interface StepInputContext {
  readonly taskInput: { goal: string };
  /** Outputs of the completed steps this one depends on, by step key. */
  readonly outputs: Readonly<Record<string, unknown>>;
}

export interface StepDefinition {
  /** Unique within the workflow; becomes the step row's `key`. */
  readonly key: string;
  readonly kind: StepKind;
  readonly dependsOn: readonly string[];
  readonly input: (context: StepInputContext) => Record<string, unknown>;
}

/**
 * A workflow is data: a DAG of steps. The planner (workflow-planner.ts) works out what
 * is ready from the rows in the database, so a new workflow is a new file, not plumbing.
 */
export interface WorkflowDefinition {
  readonly name: WorkflowName;
  readonly steps: readonly StepDefinition[];
  /** The step whose output `document` becomes the task's result. */
  readonly resultStep: string;
}
