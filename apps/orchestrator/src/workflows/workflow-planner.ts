import { agentOf, type AgentName, type StepKind, type StepStatus } from '@atelier/contracts';
import type { FinishedStep, NodeSteps, Repeat, StepDefinition, StepInputContext, WorkflowDefinition } from './workflow-definition';

export interface StepState {
  readonly key: string;
  readonly status: StepStatus;
  readonly input: unknown;
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
  /** `toleratedFailures`: steps that failed without stopping the task (the result is partial). */
  | { readonly type: 'complete'; readonly document: string; readonly toleratedFailures: string[] }
  | { readonly type: 'fail'; readonly status: 'failed' | 'budget_exceeded'; readonly failedStep: string; readonly error: unknown };

type NodeState =
  | { readonly status: 'pending' }
  | { readonly status: 'running' }
  | { readonly status: 'next-round'; readonly rounds: FinishedStep[] }
  | { readonly status: 'done'; readonly steps: NodeSteps }
  | { readonly status: 'failed'; readonly step: StepState };

const FAILED: readonly StepStatus[] = ['failed', 'dead_lettered'];

/** A workflow cannot go on from outputs it does not understand; retrying would not change them. `step` is the one to blame. */
class UnusableOutput extends Error {
  override readonly name = 'UnusableOutput';
  constructor(
    readonly step: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Pure: from the workflow and the task's current step rows, decide what happens next.
 * Steps already present are never planned again, so replaying a result is harmless.
 * Nodes are visited in definition order (every node after the nodes it runs after), and
 * everything a definition computes from outputs (fan-out items, inputs, stop conditions)
 * runs inside one guard: an output the workflow cannot use fails the task with a
 * readable INVALID_OUTPUT, never an exception out of the advance.
 */
export function planNext(workflow: WorkflowDefinition, taskInput: { goal: string }, steps: readonly StepState[]): Plan {
  // Out of money ends the task whatever the workflow would tolerate: every further step would be refused too.
  const overBudget = steps.find((step) => FAILED.includes(step.status) && errorCode(step.error) === 'BUDGET_EXCEEDED');
  if (overBudget) return { type: 'fail', status: 'budget_exceeded', failedStep: overBudget.key, error: overBudget.error };

  const byNode = groupByNode(steps);
  const states = new Map<string, NodeState>();
  const context = (extra: Partial<StepInputContext> = {}): StepInputContext => ({ taskInput, output: (node) => plainOutput(states, node), steps: (node) => nodeSteps(states, node), ...extra });
  const newSteps: NewStep[] = [];
  let building = '';
  try {
    for (const definition of workflow.steps) {
      building = definition.key;
      const ready = definition.after.every((node) => states.get(node)?.status === 'done');
      let state = nodeState(definition, byNode.get(definition.key) ?? []);
      if (state.status === 'failed') return { type: 'fail', status: 'failed', failedStep: state.step.key, error: state.step.error ?? null };
      if (ready && state.status === 'pending') {
        const after = definition.after.flatMap((node) => doneKeys(states, node));
        const first = firstSteps(definition, context, after);
        if (first.length > 0) newSteps.push(...first);
        else state = emptyFanOut(definition);
      }
      if (ready && state.status === 'next-round') {
        const previous = state.rounds.at(-1) as FinishedStep;
        const round = state.rounds.length + 1;
        newSteps.push(newStep(definition, `${definition.key}.${round}`, [previous.key], definition.input(context({ round, previous: previous.output }))));
      }
      states.set(definition.key, state);
    }
  } catch (error) {
    const [step, message] =
      error instanceof UnusableOutput ? [error.step, `workflow ${workflow.name} ${error.message}`] : [building, `workflow ${workflow.name} cannot use an earlier step's output: ${describe(error)}`];
    return { type: 'fail', status: 'failed', failedStep: step, error: { code: 'INVALID_OUTPUT', message, retryable: false } };
  }

  const result = states.get(workflow.resultStep);
  if (result?.status === 'done') {
    const last = result.steps.completed.at(-1);
    return {
      type: 'complete',
      document: String((last?.output as { document?: unknown } | undefined)?.document ?? ''),
      toleratedFailures: [...states.values()].flatMap((state) => (state.status === 'done' ? state.steps.failed.map((step) => step.key) : [])),
    };
  }
  return { type: 'continue', newSteps };
}

/**
 * A fan-out whose items came out empty has nothing to wait for: done with nothing when its
 * policy needs no member to succeed (`minSucceeded` 0 or unset: all of none), otherwise
 * the task cannot meet its policy and fails.
 */
function emptyFanOut(definition: StepDefinition): NodeState {
  const required = definition.fanOut?.minSucceeded ?? 0;
  if (required > 0) throw new UnusableOutput(definition.key, `cannot go on: the fan-out ${definition.key} has no items, and at least ${required} must succeed`);
  return { status: 'done', steps: { completed: [], failed: [] } };
}

function firstSteps(definition: StepDefinition, context: (extra?: Partial<StepInputContext>) => StepInputContext, after: string[]): NewStep[] {
  if (definition.fanOut) {
    const items = definition.fanOut.items(context());
    return items.map((item, index) => newStep(definition, `${definition.key}.${index + 1}`, after, definition.input(context({ item }))));
  }
  if (definition.repeat) return [newStep(definition, `${definition.key}.1`, after, definition.input(context({ round: 1 })))];
  return [newStep(definition, definition.key, after, definition.input(context()))];
}

function newStep(definition: StepDefinition, key: string, dependsOn: string[], input: Record<string, unknown>): NewStep {
  return { key, kind: definition.kind, agent: agentOf(definition.kind), dependsOn, input };
}

function nodeState(definition: StepDefinition, rows: readonly StepState[]): NodeState {
  if (rows.length === 0) return { status: 'pending' };
  const failed = rows.filter((row) => FAILED.includes(row.status));
  const completed = rows.filter((row) => row.status === 'completed');
  if (definition.fanOut) {
    const required = Math.min(definition.fanOut.minSucceeded ?? rows.length, rows.length);
    if (failed.length > rows.length - required) return { status: 'failed', step: failed[0] as StepState };
    if (completed.length + failed.length < rows.length) return { status: 'running' };
    return { status: 'done', steps: { completed: completed.map(finished), failed: failed.map(finished) } };
  }
  if (failed.length > 0) return { status: 'failed', step: failed[0] as StepState };
  if (completed.length < rows.length) return { status: 'running' };
  if (definition.repeat) {
    const rounds = completed.map(finished);
    const last = rounds.at(-1) as FinishedStep;
    const finishedRounds = untilHolds(definition.repeat, last) || rounds.length >= definition.repeat.maxRounds;
    return finishedRounds ? { status: 'done', steps: { completed: rounds, failed: [] } } : { status: 'next-round', rounds };
  }
  return { status: 'done', steps: { completed: completed.map(finished), failed: [] } };
}

function untilHolds(repeat: Repeat, round: FinishedStep): boolean {
  try {
    return repeat.until(round.output);
  } catch (error) {
    throw new UnusableOutput(round.key, `cannot use the output of ${round.key}: ${describe(error)}`);
  }
}

/** Members are keyed `<node>.<n>`; ordered by n so fan-out items and rounds keep their order. */
function groupByNode(steps: readonly StepState[]): Map<string, StepState[]> {
  const byNode = new Map<string, StepState[]>();
  const position = (key: string) => Number(key.slice(key.lastIndexOf('.') + 1)) || 0;
  for (const step of [...steps].sort((a, b) => position(a.key) - position(b.key))) {
    const node = step.key.includes('.') ? step.key.slice(0, step.key.lastIndexOf('.')) : step.key;
    byNode.set(node, [...(byNode.get(node) ?? []), step]);
  }
  return byNode;
}

function finished(step: StepState): FinishedStep {
  return { key: step.key, input: (step.input ?? {}) as Record<string, unknown>, output: step.output, error: step.error };
}

function plainOutput(states: Map<string, NodeState>, node: string): unknown {
  const state = states.get(node);
  if (state?.status !== 'done') throw new Error(`node ${node} is not done`);
  return state.steps.completed.at(-1)?.output;
}

function nodeSteps(states: Map<string, NodeState>, node: string): NodeSteps {
  const state = states.get(node);
  if (state?.status !== 'done') throw new Error(`node ${node} is not done`);
  return state.steps;
}

function doneKeys(states: Map<string, NodeState>, node: string): string[] {
  const { completed, failed } = nodeSteps(states, node);
  return [...completed, ...failed].map((step) => step.key).sort();
}

function errorCode(error: unknown): unknown {
  return (error as { code?: unknown } | null | undefined)?.code;
}

/** An error in words: a schema's issues one by one (`approved: expected boolean`), else its message. */
function describe(error: unknown): string {
  const issues = (error as { issues?: unknown } | null)?.issues;
  if (Array.isArray(issues) && issues.length > 0) {
    return issues.map((issue: { path?: PropertyKey[]; message?: string }) => `${issue.path?.length ? issue.path.map(String).join('.') : 'output'}: ${issue.message ?? 'is invalid'}`).join('; ');
  }
  return error instanceof Error ? error.message : String(error);
}
