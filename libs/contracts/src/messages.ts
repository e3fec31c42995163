import { z } from 'zod';
import { AGENTS } from './topology';
import { STEP_ERROR_CODES, STEP_KINDS } from './steps';

// Messages are small versioned unions keyed on `type`, validated on receipt. They carry
// ids, not payloads: the step row in Postgres is the truth, the message only says
// "look at this step now", so a stale or replayed message can never overwrite state.
// (A step result may also carry the output it reports, and a dispatch the step's input,
// each checked against the row before it counts: see StepResultV1 and StepDispatchV1.)

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
    /**
     * The step's input as the orchestrator wrote it, when it is small (see
     * MESSAGE_PAYLOAD_MAX_BYTES): the agent may start on it before it has claimed the step,
     * and its first model call then claims the step only if the step's row holds this
     * very input.
     */
    input: z.record(z.string(), z.unknown()).optional(),
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
    /**
     * A completed step's output as its agent stored it, when it is small (see
     * MESSAGE_PAYLOAD_MAX_BYTES): the orchestrator may plan from it without reading the
     * task back, and writes on that plan only if the step's row holds this very output (by
     * the digest the row keeps of it).
     */
    output: z.unknown().optional(),
  })
  .strict();
/**
 * Outputs and inputs longer than this (as JSON) stay out of step results and dispatches:
 * the orchestrator and the agents read them from the step row.
 */
export const MESSAGE_PAYLOAD_MAX_BYTES = 64 * 1024;

/** Whether `value` as JSON fits in MESSAGE_PAYLOAD_MAX_BYTES. */
export function fitsInMessage(value: unknown): boolean {
  const json = JSON.stringify(value);
  // UTF-8 bytes are never fewer than UTF-16 units: the length alone turns most long ones away.
  return json.length <= MESSAGE_PAYLOAD_MAX_BYTES && Buffer.byteLength(json) <= MESSAGE_PAYLOAD_MAX_BYTES;
}
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

/**
 * Message ids for JetStream de-duplication: the same logical message always gets the same
 * id, and a message that means something new gets a new one. Every id carries the
 * sequence that tells apart what may legitimately happen again within the broker's
 * duplicate window: a replayed dead letter fails (or completes) again, a revived task
 * ends again. Reusing an id there would make the broker drop the news as a duplicate.
 */
export const messageIds = {
  /** `dispatch` (steps.dispatch_seq) is 1 for a step's first publication and grows by one per replay of a dead letter or re-publication of a lost message. */
  dispatch: (stepId: string, dispatch: number) => `${stepId}:${dispatch}`,
  /** A step ends once per dispatch: its outcome under `dispatch` (steps.dispatch_seq). */
  result: (stepId: string, dispatch: number, status: string) => `result:${stepId}:${dispatch}:${status}`,
  /**
   * `sequence` tells repeats of an event apart: the attempt for `step.started`, the
   * dispatch for `step.completed`/`step.failed`, the task version that ended the task for
   * `task.finished`.
   */
  event: (subjectId: string, event: TaskEventName, sequence: number) => `event:${subjectId}:${event}:${sequence}`,
  /** One stop notice per end of a task: `version` is the task version the end wrote. */
  control: (taskId: string, version: number) => `control:${taskId}:${version}`,
};
