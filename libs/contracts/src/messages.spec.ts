import { messageIds, StepDispatchV1, StepResultV1 } from './messages';

describe('message schemas', () => {
  const ids = {
    taskId: '6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f',
    stepId: '7a1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f',
    tenantId: '8b1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f',
  };

  it('accepts a well-formed step dispatch and rejects unknown fields, kinds and versions', () => {
    const dispatch = { type: 'step.dispatch', version: 1, ...ids, kind: 'research.investigate', agent: 'research' };
    expect(StepDispatchV1.parse(dispatch)).toEqual(dispatch);
    expect(StepDispatchV1.safeParse({ ...dispatch, extra: 1 }).success).toBe(false);
    expect(StepDispatchV1.safeParse({ ...dispatch, kind: 'research.hack' }).success).toBe(false);
    expect(StepDispatchV1.safeParse({ ...dispatch, version: 2 }).success).toBe(false);
    expect(StepDispatchV1.safeParse({ ...dispatch, stepId: 'not-a-uuid' }).success).toBe(false);
  });

  it('carries a typed error on failed step results only when given', () => {
    const result = { type: 'step.result', version: 1, ...ids, status: 'failed', error: { code: 'LLM_ERROR', message: 'HTTP 400', retryable: false } };
    expect(StepResultV1.parse(result)).toEqual(result);
    expect(StepResultV1.safeParse({ ...result, error: { code: 'NOPE', message: '', retryable: false } }).success).toBe(false);
    expect(StepResultV1.safeParse({ ...result, status: 'maybe' }).success).toBe(false);
  });

  it('derives stable message ids for broker de-duplication, new ones for what may happen again', () => {
    expect(messageIds.dispatch(ids.stepId, 1)).toBe(`${ids.stepId}:1`);
    expect(messageIds.result(ids.stepId, 1, 'failed')).toBe(`result:${ids.stepId}:1:failed`);
    // A replayed dead letter that fails again, a revived task that ends again: news, not duplicates.
    expect(messageIds.result(ids.stepId, 2, 'failed')).not.toBe(messageIds.result(ids.stepId, 1, 'failed'));
    expect(messageIds.control(ids.taskId, 4)).not.toBe(messageIds.control(ids.taskId, 7));
    expect(messageIds.event(ids.stepId, 'step.failed', 2)).not.toBe(messageIds.event(ids.stepId, 'step.failed', 1));
    expect(messageIds.event(ids.taskId, 'task.finished', 3)).toBe(`event:${ids.taskId}:task.finished:3`);
  });
});
