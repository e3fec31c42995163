import type { StepKind, WorkflowName } from '@atelier/contracts';

/** A finished step as the planner hands it to input builders. */
export interface FinishedStep {
  readonly key: string;
  readonly input: Readonly<Record<string, unknown>>;
  readonly output: unknown;
  readonly error?: unknown;
}

/** The steps a node has produced so far: one for a plain node, one per item or round otherwise. */
export interface NodeSteps {
  readonly completed: readonly FinishedStep[];
  /** Failed or dead-lettered members a `minSucceeded` policy tolerated. */
  readonly failed: readonly FinishedStep[];
}

/** What a step definition sees when the planner builds a step's input. */
export interface StepInputContext {
  readonly taskInput: { readonly goal: string };
  /** The output of a completed plain node this one runs after. */
  output(node: string): unknown;
  /** Every step a fan-out or repeated node produced, completed and tolerated-failed, in order. */
  steps(node: string): NodeSteps;
  /** Fan-out: the item this step works on. */
  readonly item?: unknown;
  /** Repeat: the round (1, 2, ...) and the output of the round before (undefined in round 1). */
  readonly round?: number;
  readonly previous?: unknown;
}

export interface FanOut {
  /** The items to work on, read from the outputs of the nodes this one runs after: one step each. */
  readonly items: (context: StepInputContext) => readonly unknown[];
  /**
   * Failure policy: how many members must complete for the node to count as done. The
   * rest may fail (the task goes on, recorded as partial). Default: all of them. With no
   * items at all the node is done with nothing when this is 0 or unset, and the task
   * fails when it asks for at least one.
   */
  readonly minSucceeded?: number;
}

export interface Repeat {
  /** Rounds run one after another until `until(output)` holds or `maxRounds` ran. */
  readonly maxRounds: number;
  /** May throw on an output it cannot read: the task then fails with INVALID_OUTPUT naming the round. */
  readonly until: (output: unknown) => boolean;
}

/**
 * One node of the workflow DAG. A plain node becomes one step keyed `key`; a fan-out
 * node one step per item (`key.1`, `key.2`, ...); a repeated node one step per round
 * (`key.1`, `key.2`, ...).
 */
export interface StepDefinition {
  /** Unique within the workflow, no dots (member keys append `.<n>`). */
  readonly key: string;
  readonly kind: StepKind;
  /** Nodes that must be done first; their outputs are visible to `input` and `fanOut.items`. */
  readonly after: readonly string[];
  readonly input: (context: StepInputContext) => Record<string, unknown>;
  readonly fanOut?: FanOut;
  readonly repeat?: Repeat;
}

/**
 * A workflow is data: a DAG of nodes. The planner (workflow-planner.ts) works out what
 * is ready from the step rows in the database, so a new workflow is a new file, not plumbing.
 */
export interface WorkflowDefinition {
  readonly name: WorkflowName;
  readonly steps: readonly StepDefinition[];
  /** The node whose (last) output's `document` becomes the task's result. */
  readonly resultStep: string;
}
