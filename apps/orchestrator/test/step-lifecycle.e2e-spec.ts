import { createHash } from 'node:crypto';
import { CONSUMERS, messageIds, StepResultV1, SUBJECTS, type StepDispatch } from '@atelier/contracts';
import { publishJson } from '@atelier/messaging';
import { AtelierStack } from '@atelier/testing';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { DELIVERY_COUNTING_AGENT_ENV } from './support/delivery-counting-env';
import { waitFor } from './support/wait-for';

// A step's life end to end: cancellation and deadlines that abort calls in flight, poison
// messages, dead letters within seconds, redeliveries that never re-run finished work, and
// the lease that keeps two deliveries of a running step from both running it. The agents
// run with the default attempts and back-off (what "dead-lettered within seconds" must hold for).

/** STEP_MAX_ATTEMPTS's default. */
const MAX_ATTEMPTS = 5;

describe('step lifecycle (end to end)', () => {
  let stack: AtelierStack;
  let key: string;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let js: JetStreamClient;

  beforeAll(async () => {
    stack = await AtelierStack.start({ agentEnv: DELIVERY_COUNTING_AGENT_ENV, orchestratorEnv: { DEADLINE_CHECK_INTERVAL_MS: '200' } });
    key = await stack.mintKey('acme', ['tasks:write', 'tasks:read']);
    ({ nc, jsm } = await stack.jetstream());
    js = jsm.jetstream();
  }, 90_000);

  afterAll(() => stack?.stop());

  const stepRow = async (taskId: string, stepKey: string) => (await stack.rows(`SELECT * FROM steps WHERE task_id = $1 AND key = $2`, [taskId, stepKey]))[0];
  const runningStep = (taskId: string, stepKey: string) => waitFor(`${stepKey} running`, () => stepRow(taskId, stepKey), (row) => row?.status === 'running');
  const researchQueue = async () => {
    const info = await jsm.consumers.info(CONSUMERS.research.stream, CONSUMERS.research.durable);
    return { pending: info.num_pending, unacknowledged: info.num_ack_pending, delivered: info.delivered.consumer_seq };
  };

  it('cancels a task: the model call in flight is aborted at once and billed at its reservation, its steps cancelled, the audit recorded', async () => {
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Cancel me [[sim:latency=8000]]' }, budgetUsd: '1' });
    const step = await runningStep(id, 'investigate');
    await sleep(300); // the model call is out

    const cancelledAt = Date.now();
    const response = await stack.call(`/v1/tasks/${id}/cancel`, { method: 'POST', key });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id, status: 'cancelled', error: { code: 'CANCELLED' } });

    // The agent aborts the call (AbortSignal) instead of waiting out the 8 s reply, and records it.
    const [aborted] = await waitFor(
      'the aborted call in the ledger',
      () => stack.rows(`SELECT outcome::text, error_type FROM llm_calls WHERE step_id = $1`, [step.id]),
      (calls) => calls.length > 0,
      5_000,
    );
    expect(Date.now() - cancelledAt).toBeLessThan(5_000);
    expect(aborted).toEqual({ outcome: 'unknown', error_type: 'aborted' });
    expect(await stepRow(id, 'investigate')).toMatchObject({ status: 'cancelled' });
    // The aborted call may have been billed by the provider: its reservation is spent, never
    // released; nothing stays held for the cancelled task.
    const [hold] = await stack.rows(`SELECT state::text, amount_usd FROM spend_reservations WHERE step_id = $1`, [step.id]);
    expect(hold.state).toBe('unknown_outcome');
    expect(await stack.rows(`SELECT reserved_usd = 0 AS nothing_held, spent_usd = $2::numeric AS spent_the_hold FROM budget_balances WHERE task_id = $1`, [id, hold.amount_usd])).toEqual([
      { nothing_held: true, spent_the_hold: true },
    ]);
    const [audit] = await stack.rows(`SELECT actor, data FROM audit_events WHERE task_id = $1 AND action = 'task.cancelled'`, [id]);
    expect(audit).toMatchObject({ actor: expect.stringMatching(/^apikey:/), data: { status: 'cancelled', stoppedSteps: ['investigate'] } });

    // Cancelling again changes nothing; a finished task cannot be cancelled.
    expect((await stack.call(`/v1/tasks/${id}/cancel`, { method: 'POST', key })).status).toBe(200);
    expect(await stack.rows(`SELECT count(*)::int AS n FROM audit_events WHERE task_id = $1 AND action = 'task.cancelled'`, [id])).toEqual([{ n: 1 }]);
    const done = await stack.submit(key, { workflow: 'brief', input: { goal: 'Finish first' } });
    await stack.waitForTask(done, key);
    const conflict = await stack.call(`/v1/tasks/${done}/cancel`, { method: 'POST', key });
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get('content-type')).toContain('application/problem+json');
  }, 30_000);

  it('times a task out at its deadline, aborting the call in flight and keeping what was done', async () => {
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Too slow [[sim:latency=8000]]' }, deadlineSeconds: 1 });
    const task = await stack.waitForTask(id, key, 6_000);
    expect(task).toMatchObject({ status: 'timed_out', error: { code: 'TIMED_OUT' } });
    expect(task.result).toBeUndefined(); // nothing completed, nothing to keep
    expect(Date.parse(task.completedAt) - Date.parse(task.createdAt)).toBeLessThan(4_000);
    const [audit] = await stack.rows(`SELECT actor, data FROM audit_events WHERE task_id = $1 AND action = 'task.failed'`, [id]);
    expect(audit).toMatchObject({ actor: 'service:orchestrator', data: { status: 'timed_out' } });
    const step = await stepRow(id, 'investigate');
    expect(step.status).toBe('cancelled');
    await waitFor('the aborted call in the ledger', () => stack.rows(`SELECT 1 FROM llm_calls WHERE step_id = $1 AND error_type = 'aborted'`, [step.id]), (rows) => rows.length > 0, 5_000);
  }, 20_000);

  it('terminates and records a poison message, and never delivers it again', async () => {
    const before = await researchQueue();
    await nc.publish(SUBJECTS.agentSteps('research'), '{"type":"step.dispatch","version":1,"stepId":"not-a-uuid"');
    const unknownStep: StepDispatch = { type: 'step.dispatch', version: 1, taskId: crypto.randomUUID(), stepId: crypto.randomUUID(), tenantId: crypto.randomUUID(), kind: 'research.investigate', agent: 'research' };
    await publishJson(js, SUBJECTS.agentSteps('research'), unknownStep, { msgId: messageIds.dispatch(unknownStep.stepId, 1) });

    const rejected = await waitFor(
      'both rejections recorded',
      () => stack.rows(`SELECT tenant_id, data FROM audit_events WHERE action = 'message.rejected' ORDER BY seq`),
      (rows) => rows.length >= 2,
    );
    // Handled concurrently: in either order.
    expect(rejected).toHaveLength(2);
    expect(rejected.map((row) => row.data)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ reason: 'invalid step.dispatch message', stream: 'AGENT_RESEARCH', payloadSha256: expect.stringMatching(/^[0-9a-f]{64}$/) }),
        expect.objectContaining({ reason: 'no such step for this agent', msgId: `${unknownStep.stepId}:1` }),
      ]),
    );
    expect(rejected.every((row) => row.tenant_id === null)).toBe(true);
    // Settled for good: nothing waits or is delivered again (a nak'ed message would be back within a second).
    await sleep(1_000);
    expect(await researchQueue()).toEqual({ pending: 0, unacknowledged: 0, delivered: before.delivered + 2 });
    expect(await stack.rows(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'message.rejected'`)).toEqual([{ n: 2 }]);
  });

  it('dead-letters an always-failing step within seconds after its last attempt, with the default back-off, and fails the task', async () => {
    const started = Date.now();
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Always failing [[sim:fault=500]]' } });
    const task = await stack.waitForTask(id, key, 15_000);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(task).toMatchObject({ status: 'failed', error: { code: 'STEP_FAILED', step: 'investigate', cause: { code: 'LLM_UNAVAILABLE' } } });
    const step = await stepRow(id, 'investigate');
    expect(step).toMatchObject({ status: 'dead_lettered', attempt: MAX_ATTEMPTS });
    expect(step.dead_lettered_at).toBeInstanceOf(Date);
    const calls = await stack.rows(`SELECT outcome::text, error_type FROM llm_calls WHERE step_id = $1`, [step.id]);
    expect(calls).toEqual(Array(MAX_ATTEMPTS).fill({ outcome: 'error', error_type: 'server_error' }));
    expect(await stack.rows(`SELECT action FROM audit_events WHERE subject = $1 AND action LIKE 'step.%' ORDER BY seq`, [`step:${step.id}`])).toEqual([
      { action: 'step.queued' },
      ...Array(MAX_ATTEMPTS).fill({ action: 'step.started' }),
      { action: 'step.dead_lettered' },
    ]);
  }, 20_000);

  it('reports a completed step with its output, as its row holds it, so the orchestrator can plan the next step without reading the task back', async () => {
    const reported = new Map<string, unknown>();
    const subscription = nc.subscribe(SUBJECTS.stepResults, {
      callback: (_error, message) => {
        const result = StepResultV1.parse(message.json());
        reported.set(result.stepId, result.output);
      },
    });
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Results that carry their output' } });
    expect(await stack.waitForTask(id, key)).toMatchObject({ status: 'completed' });
    subscription.unsubscribe();
    for (const stepKey of ['investigate', 'draft']) {
      const step = await stepRow(id, stepKey);
      expect(reported.get(step.id)).toEqual(step.output);
      // The row's digest is of the very JSON the result carries: what the orchestrator checks a plan made from it against.
      expect(step.output_sha256).toBe(createHash('sha256').update(JSON.stringify(reported.get(step.id))).digest('hex'));
    }
  });

  it('never runs a finished step again: another dispatch of it publishes its stored result again and is acknowledged', async () => {
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Run once only' } });
    await stack.waitForTask(id, key);
    const step = await stepRow(id, 'investigate');
    const calls = async () => (await stack.rows(`SELECT count(*)::int AS n FROM llm_calls WHERE step_id = $1`, [step.id]))[0].n;
    expect(await calls()).toBe(1);
    const before = await researchQueue();

    // What is published on the results subject (the stream drops it as a duplicate: the orchestrator had it).
    const republished: { msgId: string | undefined; status: string }[] = [];
    const subscription = nc.subscribe(SUBJECTS.stepResults, {
      callback: (_error, message) => {
        const result = StepResultV1.parse(message.json());
        if (result.stepId === step.id) republished.push({ msgId: message.headers?.get('Nats-Msg-Id'), status: result.status });
      },
    });
    const [{ tenant_id: tenantId }] = await stack.rows(`SELECT tenant_id FROM tasks WHERE id = $1`, [id]);
    const dispatch: StepDispatch = { type: 'step.dispatch', version: 1, taskId: id, stepId: step.id, tenantId, kind: 'research.investigate', agent: 'research' };
    // As the relay publishes it (the agent claims the step first), and as the orchestrator
    // does, with the step's input (the agent starts on it, its model call to claim the step).
    await publishJson(js, SUBJECTS.agentSteps('research'), dispatch, { msgId: `${step.id}:again` });
    await publishJson(js, SUBJECTS.agentSteps('research'), { ...dispatch, input: step.input }, { msgId: `${step.id}:again-with-input` });
    await waitFor('the deliveries', researchQueue, (queue) => queue.delivered >= before.delivered + 2);
    await waitFor('its acknowledgement', researchQueue, (queue) => queue.unacknowledged === 0);
    await waitFor('the result published again', async () => republished, (results) => results.length > 0);
    subscription.unsubscribe();
    expect(new Set(republished.map((result) => `${result.msgId}/${result.status}`))).toEqual(new Set([`${messageIds.result(step.id, 1, 'completed')}/completed`]));

    expect(await calls()).toBe(1);
    expect(await stepRow(id, 'investigate')).toMatchObject({ status: 'completed', attempt: 1 });
    expect(await stack.rows(`SELECT count(*)::int AS n FROM audit_events WHERE subject = $1 AND action = 'step.started'`, [`step:${step.id}`])).toEqual([{ n: 1 }]);
  });

  it('runs a step once when a second delivery arrives while it runs: the lease holds the duplicate back', async () => {
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Leased step [[sim:latency=1500]]' } });
    const step = await runningStep(id, 'investigate');
    const [{ tenant_id: tenantId }] = await stack.rows(`SELECT tenant_id FROM tasks WHERE id = $1`, [id]);
    const duplicate: StepDispatch = { type: 'step.dispatch', version: 1, taskId: id, stepId: step.id, tenantId, kind: 'research.investigate', agent: 'research', input: step.input };
    await publishJson(js, SUBJECTS.agentSteps('research'), duplicate, { msgId: `${step.id}:duplicate` });

    const task = await stack.waitForTask(id, key);
    expect(task.status).toBe('completed');
    await waitFor('the queue drained', researchQueue, (queue) => queue.pending === 0 && queue.unacknowledged === 0);
    expect(await stepRow(id, 'investigate')).toMatchObject({ status: 'completed', attempt: 1 });
    expect(await stack.rows(`SELECT count(*)::int AS n FROM llm_calls WHERE step_id = $1`, [step.id])).toEqual([{ n: 1 }]);
    const research = stack.agents.find((agent) => agent.name === 'research-agent');
    expect(research?.logs.some((line) => line.includes(step.id) && line.includes('running under another delivery'))).toBe(true);
  }, 20_000);
});
