import { CONSUMERS, STREAMS, StepDispatchV1 } from '@atelier/contracts';
import { AtelierStack } from '@atelier/testing';
import type { JetStreamManager } from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from './support/wait-for';

// Messages the broker lost (a crash within its fsync interval) or that waited a long time
// in a backlog: Postgres is the record, and the relay makes good what was lost without
// ever publishing twice what still waits. A step is suspected after 2 × the ack wait
// (here 4 s), and its message presumed lost only when the broker no longer holds it at
// the stream sequence its publish was acknowledged with (or the stream holds nothing).

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
  const orchestratorMetrics = async () => (await fetch(`${stack.orchestrators.find((orchestrator) => orchestrator.running)?.url}/metrics`)).text();
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

  it('publishes a lost step message again while the backlog still waits, and never publishes the backlog twice', async () => {
    const ids = await Promise.all(Array.from({ length: 4 }, (_, n) => stack.submit(key, { workflow: 'brief', input: { goal: `Backlog ${n}` } })));
    await waitFor('every step marked dispatched where it is stored', () => stack.rows(`SELECT dispatch_stream_seq FROM steps WHERE task_id = ANY($1::uuid[])`, [ids]), (rows) => rows.every((row) => row.dispatch_stream_seq !== null));
    const before = await researchStream();
    expect(before.messages).toBe(4);

    // Each step's mark names the message that carries it.
    const lost = await stepOf(ids[1] as string, 'investigate');
    const stored = await jsm.streams.getMessage(STREAMS.research.stream, { seq: Number(lost.dispatch_stream_seq) });
    expect(StepDispatchV1.parse(stored?.json()).stepId).toBe(lost.id);

    // The broker loses it; the other three still wait, as no agent consumes them.
    expect(await jsm.streams.deleteMessage(STREAMS.research.stream, Number(lost.dispatch_stream_seq))).toBe(true);
    await waitFor('the lost step published again', researchStream, (state) => state.last_seq === before.last_seq + 1, LOST_AFTER_MS + 10 * RELAY_INTERVAL_MS);
    const republished = await stepOf(ids[1] as string, 'investigate');
    expect(republished).toMatchObject({ status: 'queued', dispatch_seq: 2 });
    // Operators see it: the loss counts on the metric AtelierMessagesLost alerts on.
    await waitFor('the loss counted', orchestratorMetrics, (text) => /atelier_relay_recoveries_total\{[^}]*what="lost_step"[^}]*\} 1\n/.test(text));

    // Long past the point where a step is suspected again, nothing more is published: every message is where its mark says.
    await waitFor('the new message marked', () => stepOf(ids[1] as string, 'investigate'), (step) => step.dispatch_stream_seq === String(before.last_seq + 1));
    await sleep(LOST_AFTER_MS + 4 * RELAY_INTERVAL_MS);
    expect(await researchStream()).toMatchObject({ messages: 4, last_seq: before.last_seq + 1 });
    expect((await stack.rows(`SELECT dispatch_seq FROM steps WHERE task_id = ANY($1::uuid[]) AND id <> $2`, [ids, lost.id])).map((row) => row.dispatch_seq)).toEqual([1, 1, 1]);

    // An agent drains the queue: every task completes, each step ran once.
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
    await stopResearchAgents();
  }, 60_000);

  it('publishes a lost step message again once its stream has drained, when where it was stored is unknown', async () => {
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Stored where nobody noted' } });
    await waitFor('the step marked dispatched', () => stepOf(id, 'investigate'), (step) => step.dispatch_stream_seq !== null);
    // As for a step dispatched before stream sequences were recorded: only an empty stream tells its message is gone.
    await stack.rows(`UPDATE steps SET dispatch_stream_seq = NULL WHERE task_id = $1`, [id]);
    const before = await researchStream();
    await jsm.streams.purge(STREAMS.research.stream);

    await waitFor('the lost step published again', researchStream, (state) => state.last_seq === before.last_seq + 1, LOST_AFTER_MS + 10 * RELAY_INTERVAL_MS);
    await stack.startAgent('research-agent');
    expect((await stack.waitForTask(id, key, 30_000)).status).toBe('completed');
    expect(await stepOf(id, 'investigate')).toMatchObject({ dispatch_seq: 2, attempt: 1 });
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
    expect(await orchestratorMetrics()).toMatch(/atelier_relay_recoveries_total\{[^}]*what="lost_result"[^}]*\} 1\n/);
    expect((await jsm.consumers.info(CONSUMERS.stepResults.stream, CONSUMERS.stepResults.durable)).num_pending).toBe(0);
    expect(await stack.rows(`SELECT key, attempt FROM steps WHERE task_id = $1 ORDER BY key`, [id])).toEqual([
      { key: 'draft', attempt: 1 },
      { key: 'investigate', attempt: 1 },
    ]);
  }, 60_000);
});
