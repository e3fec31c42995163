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

export const TaskEventV1 = z
  .object({
    type: z.literal('task.event'),
    version: z.literal(1),
    taskId: uuid,
    event: z.enum(['step.started', 'step.completed', 'step.failed', 'task.finished']),
    stepId: uuid.optional(),
    kind: z.enum(STEP_KINDS).optional(),
    status: z.string().optional(),
    at: z.iso.datetime(),
  })
  .strict();
export type TaskEvent = z.infer<typeof TaskEventV1>;

/** Message ids for JetStream de-duplication: the same logical message always gets the same id. */
export const messageIds = {
  dispatch: (stepId: string, attempt: number) => `${stepId}:${attempt}`,
  result: (stepId: string, status: string) => `result:${stepId}:${status}`,
};
