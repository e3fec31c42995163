import { z } from 'zod';
import { AGENTS } from './topology';
import { STEP_ERROR_CODES, STEP_KINDS } from './steps';

// Messages are small versioned unions keyed on `type`, validated on receipt. They carry
// ids, not payloads: the step row in Postgres is the truth, the message only says
// "look at this step now", so a stale or replayed message can never overwrite state.

const uuid = z.uuid();

export const StepDispatchV1 = z
  .object({
    type: z.literal('step.dispatch'),
    version: z.literal(1),
    taskId: uuid,
    stepId: uuid,
    tenantId: uuid,
    kind: z.enum(STEP_KINDS),
    agent: z.enum(AGENTS),
  })
  .strict();
export type StepDispatch = z.infer<typeof StepDispatchV1>;

export const StepErrorV1 = z
  .object({
    code: z.enum(STEP_ERROR_CODES),
    message: z.string().max(2_000),
    retryable: z.boolean(),
  })
  .strict();
export type StepError = z.infer<typeof StepErrorV1>;

export const StepResultV1 = z
  .object({
    type: z.literal('step.result'),
    version: z.literal(1),
    taskId: uuid,
    stepId: uuid,
    tenantId: uuid,
    status: z.enum(['completed', 'failed']),
    error: StepErrorV1.optional(),
  })
  .strict();
export type StepResult = z.infer<typeof StepResultV1>;

export const TASK_EVENT_NAMES = ['step.started', 'step.completed', 'step.failed', 'task.finished'] as const;
export type TaskEventName = (typeof TASK_EVENT_NAMES)[number];

export const TaskEventV1 = z
  .object({
    type: z.literal('task.event'),
    version: z.literal(1),
    taskId: uuid,
    event: z.enum(TASK_EVENT_NAMES),
    stepId: uuid.optional(),
    /** The step's key in its workflow, e.g. `investigate.2`. */
    key: z.string().max(100).optional(),
    kind: z.enum(STEP_KINDS).optional(),
    status: z.string().optional(),
    at: z.iso.datetime(),
  })
  .strict();
export type TaskEvent = z.infer<typeof TaskEventV1>;

/** Sent when a task ends other than `completed`: agents abort its steps still running. */
export const TaskControlV1 = z
  .object({
    type: z.literal('task.control'),
    version: z.literal(1),
    taskId: uuid,
    action: z.literal('stop'),
    status: z.enum(['cancelled', 'timed_out', 'failed', 'budget_exceeded']),
  })
  .strict();
export type TaskControl = z.infer<typeof TaskControlV1>;

/** Message ids for JetStream de-duplication: the same logical message always gets the same id. */
export const messageIds = {
  /** `dispatch` is 1 for a step's first publication and grows by one per replay of a dead letter. */
  dispatch: (stepId: string, dispatch: number) => `${stepId}:${dispatch}`,
  result: (stepId: string, status: string) => `result:${stepId}:${status}`,
  /** `attempt` tells a step's starts apart; 0 for events that happen once per step or task. */
  event: (subjectId: string, event: TaskEventName, attempt = 0) => `event:${subjectId}:${event}:${attempt}`,
  control: (taskId: string) => `control:${taskId}`,
};
