import { CONSUMERS, STREAMS, StepDispatchV1 } from '@atelier/contracts';
import { AtelierStack } from '@atelier/testing';
import type { JetStreamManager } from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from './support/wait-for';

// Messages the broker lost (a crash within its fsync interval) or that waited a long time
// in a backlog: Postgres is the record, and the relay makes good what was lost without
// ever publishing twice what still waits. A message is presumed lost after 2 × the ack
// wait (here 4 s), and only when its agent's stream holds nothing.

const ACK_WAIT_MS = 2_000;
const LOST_AFTER_MS = 2 * ACK_WAIT_MS;
const RELAY_INTERVAL_MS = 500;

describe('fault: lost and waiting messages', () => {
  let stack: AtelierStack;
  let key: string;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    // No research agent yet: the tests decide when the research queue is consumed.
    stack = await AtelierStack.start({
      researchAgents: 0,
      env: { STEP_ACK_WAIT_MS: String(ACK_WAIT_MS) },
      orchestratorEnv: { RELAY_INTERVAL_MS: String(RELAY_INTERVAL_MS) },
    });
    key = await stack.mintKey('acme', ['tasks:write', 'tasks:read']);
    ({ jsm } = await stack.jetstream());
  }, 90_000);

  afterAll(() => stack?.stop());

  const researchStream = async () => (await jsm.streams.info(STREAMS.research.stream)).state;
  const stepOf = async (taskId: string, stepKey: string) => (await stack.rows(`SELECT * FROM steps WHERE task_id = $1 AND key = $2`, [taskId, stepKey]))[0];
  const stopResearchAgents = () => Promise.all(stack.agents.filter((agent) => agent.name === 'research-agent' && agent.running).map((agent) => agent.stop()));

  it('cancels a step still queued: the agent later drops its message without running it, and no money is held', async () => {
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Cancelled while queued' }, budgetUsd: '1' });
    await waitFor('the step dispatched', () => stepOf(id, 'investigate'), (step) => step.dispatched_at !== null);
    const response = await stack.call(`/v1/tasks/${id}/cancel`, { method: 'POST', key });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'cancelled', steps: [{ key: 'investigate', status: 'cancelled', attempts: 0 }] });

    await stack.startAgent('research-agent');
    await waitFor('the research stream drained', researchStream, (state) => state.messages === 0);
    expect(await stepOf(id, 'investigate')).toMatchObject({ status: 'cancelled', attempt: 0 });
    expect(await stack.rows(`SELECT count(*)::int AS n FROM llm_calls WHERE task_id = $1`, [id])).toEqual([{ n: 0 }]);
    expect(await stack.rows(`SELECT count(*)::int AS n FROM spend_reservations WHERE task_id = $1`, [id])).toEqual([{ n: 0 }]);
    expect(await stack.rows(`SELECT reserved_usd = 0 AS nothing_reserved, spent_usd = 0 AS nothing_spent FROM budget_balances WHERE task_id = $1`, [id])).toEqual([{ nothing_reserved: true, nothing_spent: true }]);
    await stopResearchAgents();
  }, 60_000);

  it('never publishes a backlog twice, and publishes a lost step message again once its stream has drained', async () => {
    const ids = await Promise.all(Array.from({ length: 4 }, (_, n) => stack.submit(key, { workflow: 'brief', input: { goal: `Backlog ${n}` } })));
    await waitFor('every step dispatched', () => stack.rows(`SELECT dispatched_at FROM steps WHERE task_id = ANY($1::uuid[])`, [ids]), (rows) => rows.every((row) => row.dispatched_at !== null));
    const before = await researchStream();
    expect(before.messages).toBe(4);

    // The broker loses one of them.
    const lost = await stepOf(ids[1] as string, 'investigate');
    let lostSeq: number | undefined;
    for (let seq = before.first_seq; seq <= before.last_seq && !lostSeq; seq++) {
      const message = await jsm.streams.getMessage(STREAMS.research.stream, { seq }).catch(() => undefined);
      if (message && StepDispatchV1.parse(message.json()).stepId === lost.id) lostSeq = seq;
    }
    expect(await jsm.streams.deleteMessage(STREAMS.research.stream, lostSeq as number)).toBe(true);

    // Long past the point where a step counts as lost, nothing is published again: the stream is not empty.
    await sleep(LOST_AFTER_MS + 4 * RELAY_INTERVAL_MS);
    expect((await researchStream()).last_seq).toBe(before.last_seq);
    expect(await stack.rows(`SELECT DISTINCT dispatch_seq FROM steps WHERE task_id = ANY($1::uuid[])`, [ids])).toEqual([{ dispatch_seq: 1 }]);

    // An agent drains the backlog; then the lost one is published again, under a new message id.
    await stack.startAgent('research-agent');
    const tasks = await Promise.all(ids.map((id) => stack.waitForTask(id, key, 30_000)));
    expect(tasks.map((task) => task.status)).toEqual(['completed', 'completed', 'completed', 'completed']);
    expect((await researchStream()).last_seq).toBe(before.last_seq + 1);
    const steps = await stack.rows(`SELECT id, dispatch_seq, attempt FROM steps WHERE task_id = ANY($1::uuid[]) AND key = 'investigate'`, [ids]);
    expect(steps.map((step) => [step.id === lost.id, step.dispatch_seq, step.attempt]).sort()).toEqual([
      [false, 1, 1],
      [false, 1, 1],
      [false, 1, 1],
      [true, 2, 1],
    ]);
  }, 60_000);

  it('moves a task on whose step result was lost', async () => {
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Result lost [[sim:latency=1500]]' } });
    await waitFor('the investigation running', () => stepOf(id, 'investigate'), (step) => step?.status === 'running');
    const [orchestrator] = stack.orchestrators;
    expect(await orchestrator?.stop()).toBe(0);

    // The agent finishes and publishes its result with no orchestrator to hear it; the broker loses it.
    await waitFor('the investigation completed', () => stepOf(id, 'investigate'), (step) => step.status === 'completed');
    await waitFor('its result stored', async () => (await jsm.streams.info(STREAMS.stepResults.stream)).state.messages, (messages) => messages === 1);
    await jsm.streams.purge(STREAMS.stepResults.stream);

    const restarted = await stack.startOrchestrator();
    const task = await stack.waitForTask(id, key, 30_000);
    expect(task.status).toBe('completed');
    expect(restarted.logs.some((line) => line.includes('advanced running tasks whose step results were lost'))).toBe(true);
    expect((await jsm.consumers.info(CONSUMERS.stepResults.stream, CONSUMERS.stepResults.durable)).num_pending).toBe(0);
    expect(await stack.rows(`SELECT key, attempt FROM steps WHERE task_id = $1 ORDER BY key`, [id])).toEqual([
      { key: 'draft', attempt: 1 },
      { key: 'investigate', attempt: 1 },
    ]);
  }, 60_000);
});
