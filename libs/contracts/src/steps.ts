import type { AgentName } from './topology';

/** Every step kind an agent can execute; the prefix names the agent that owns it. */
export const STEP_KINDS = ['research.plan', 'research.investigate', 'writer.draft', 'writer.review'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export function agentOf(kind: StepKind): AgentName {
  return kind.startsWith('research.') ? 'research' : 'writer';
}

export const TASK_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled', 'budget_exceeded', 'timed_out'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const TERMINAL_TASK_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'cancelled', 'budget_exceeded', 'timed_out'];

export const STEP_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled', 'dead_lettered'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** Machine-readable reasons a step fails; users read `message`, programs read `code`. */
export const STEP_ERROR_CODES = [
  'LLM_ERROR',
  'LLM_UNAVAILABLE',
  'BUDGET_EXCEEDED',
  'INVALID_OUTPUT',
  'UNKNOWN_MODEL',
  'HANDLER_ERROR',
  'DEAD_LETTERED',
  'CANCELLED',
] as const;
export type StepErrorCode = (typeof STEP_ERROR_CODES)[number];
