import { messageIds, SUBJECTS, type StepKind, type TaskEvent, type TaskEventName } from '@atelier/contracts';
import type { PublishJsonOptions } from './publisher';

export interface TaskEventInput {
  readonly taskId: string;
  readonly event: TaskEventName;
  readonly stepId?: string;
  readonly key?: string;
  readonly kind?: StepKind;
  readonly status?: string;
  /**
   * Tells repeats of the event apart, so each reaches the stream (messageIds.event): the
   * attempt of a start, the dispatch of a step's end, the task version of its finish.
   */
  readonly sequence: number;
}

interface Notifier {
  notify(subject: string, payload: unknown, options: PublishJsonOptions): void;
}

/**
 * Progress for `GET /v1/tasks/{id}/events`, into TASK_EVENTS without waiting for the
 * acknowledgement: the database is the record, these only tell watchers sooner. The
 * msgId makes a repeat (a replayed result) a duplicate the stream drops.
 */
export function publishTaskEvent(nats: Notifier, input: TaskEventInput): void {
  const { sequence, ...fields } = input;
  const event: TaskEvent = { type: 'task.event', version: 1, ...fields, at: new Date().toISOString() };
  nats.notify(SUBJECTS.taskEvents(input.taskId), event, { msgId: messageIds.event(input.stepId ?? input.taskId, input.event, sequence) });
}
