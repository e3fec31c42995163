import { CONSUMERS, messageIds, StepResultV1, SUBJECTS } from '@atelier/contracts';
import { AtelierStack } from '@atelier/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from './support/wait-for';

// Agents dying, stalling and shutting down mid-step. A short ack wait (and so a short
// lease) keeps redeliveries quick: it is the time JetStream gives a silent worker.

const ACK_WAIT_MS = 2_000;
// What these tests are about is JetStream's redelivery. The relay's safety net for lost
// results (a task idle for 2 relay intervals) would otherwise race it: when restarting an
// agent takes 10 s on a loaded machine, it advanced the task before the redelivery
// published the stored result. Its own tests are in fault-lost-messages.
const RELAY_INTERVAL_MS = 60_000;

describe('fault: agents crash, run long, shut down', () => {
  let stack: AtelierStack;
  let key: string;

  beforeAll(async () => {
    stack = await AtelierStack.start({
      env: { STEP_ACK_WAIT_MS: String(ACK_WAIT_MS), SHUTDOWN_GRACE_MS: '1000' },
      orchestratorEnv: { RELAY_INTERVAL_MS: String(RELAY_INTERVAL_MS) },
      // A scripted fault is taken by the first request it matches, count_tokens too: leave counting out.
      agentEnv: { LLM_COUNT_TOKENS: 'off' },
    });
    key = await stack.mintKey('acme', ['tasks:write', 'tasks:read']);
  }, 90_000);

  afterAll(() => stack?.stop());

  const step = async (taskId: string, key: string) => (await stack.rows(`SELECT * FROM steps WHERE task_id = $1 AND key = $2`, [taskId, key]))[0];
  const running = (taskId: string) => waitFor('the investigation running', () => step(taskId, 'investigate'), (row) => row?.status === 'running');
  const research = () => stack.agents.filter((agent) => agent.name === 'research-agent' && agent.running);
  const startedEvents = async (stepId: string) =>
    (await stack.rows(`SELECT data FROM audit_events WHERE subject = $1 AND action = 'step.started' ORDER BY seq`, [`step:${stepId}`])).map((row) => row.data);

  it('kill -9 of an agent while its model call is in flight: the task completes, the step ran effectively once, the interrupted attempt is recorded', async () => {
    const messagesBefore = (await stack.simulatorStats()).messages;
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Crash mid-call [[sim:latency=3000]]' } });
    const investigate = await running(id);
    // The model call is out once the simulator has it (it holds the reply for 3 s).
    await waitFor('the model call at the simulator', () => stack.simulatorStats(), (stats) => stats.messages > messagesBefore);
    const [victim] = research();
    await victim?.kill();
    await stack.startAgent('research-agent');

    const task = await stack.waitForTask(id, key, 45_000);
    expect(task.status).toBe('completed');
    expect(await step(id, 'investigate')).toMatchObject({ status: 'completed', attempt: 2 });
    // Effectively once: one output, one completion, one successful call in the ledger.
    expect(await stack.rows(`SELECT count(*)::int AS n FROM audit_events WHERE subject = $1 AND action = 'step.completed'`, [`step:${investigate.id}`])).toEqual([{ n: 1 }]);
    expect(await stack.rows(`SELECT attempt, outcome::text FROM llm_calls WHERE step_id = $1`, [investigate.id])).toEqual([{ attempt: 2, outcome: 'success' }]);
    // The interrupted attempt is on record, and it accounts for the one call the ledger lacks:
    // every call the simulator answered is either in llm_calls or a recorded interrupted attempt.
    expect(await startedEvents(investigate.id)).toEqual([
      expect.objectContaining({ key: 'investigate', attempt: 1 }),
      expect.objectContaining({ key: 'investigate', attempt: 2, interruptedAttempt: 1 }),
    ]);
    const ledger = (await stack.rows(`SELECT count(*)::int AS n FROM llm_calls WHERE task_id = $1`, [id]))[0].n;
    expect((await stack.simulatorStats()).messages - messagesBefore).toBe(ledger + 1);
    // Its money is on record too: the reservation made before the call is still held, to be
    // billed in full by the sweeper (the provider may have charged for a call cut off).
    expect(await stack.rows(`SELECT state::text FROM spend_reservations WHERE attempt_id LIKE $1`, [`${investigate.id}:1:%`])).toEqual([{ state: 'reserved' }]);
  }, 60_000);

  it('keeps a step that runs for more than three ack waits: heartbeats prevent any redelivery', async () => {
    const { jsm } = await stack.jetstream();
    const before = await jsm.consumers.info(CONSUMERS.research.stream, CONSUMERS.research.durable);
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: `Long research [[sim:latency=${3 * ACK_WAIT_MS + 1_000}]]` } });
    const started = Date.now();
    const task = await stack.waitForTask(id, key, 30_000);
    expect(task.status).toBe('completed');
    const investigate = await step(id, 'investigate');
    expect(investigate.completed_at.getTime() - investigate.started_at.getTime()).toBeGreaterThan(3 * ACK_WAIT_MS);
    expect(Date.now() - started).toBeGreaterThan(3 * ACK_WAIT_MS);
    expect(investigate.attempt).toBe(1);
    expect(await startedEvents(investigate.id)).toHaveLength(1);
    // One delivery in all: a redelivery would have been a second one.
    const after = await jsm.consumers.info(CONSUMERS.research.stream, CONSUMERS.research.durable);
    expect(after.delivered.consumer_seq - before.delivered.consumer_seq).toBe(1);
  }, 60_000);

  it('SIGTERM mid-step: the agent hands the step back within its grace period, without using up an attempt, and another replica takes it over at once', async () => {
    // The first call hangs until its agent gives up on it, however long starting a second
    // agent takes on a loaded machine; the replica's call then answers at once.
    const marker = crypto.randomUUID();
    await stack.queueFault({ fault: 'hang', count: 1, match: marker });
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: `Shut down mid-call ${marker}` } });
    const investigate = await running(id);
    const [leaving] = research();
    // The replica allows a step one attempt: it still runs this one, the hand-back used none.
    await stack.startAgent('research-agent', { STEP_MAX_ATTEMPTS: '1' });
    await sleep(300);

    const stopping = Date.now();
    expect(await leaving?.stop('SIGTERM')).toBe(0);
    const exited = Date.now();
    expect(exited - stopping).toBeLessThan(4_000); // grace 1 s, then the call is aborted and the step handed back

    // Taken over (started_at is when): the replica's call answers at once, so it may already be completed when looked at.
    const taken = await waitFor('another replica taking the step', () => step(id, 'investigate'), (row) => row.attempt === 2 && ['running', 'completed'].includes(row.status), 10_000);
    expect(taken.started_at.getTime() - exited).toBeLessThan(ACK_WAIT_MS); // a nak, not the ack wait, gave it back
    expect((await stack.waitForTask(id, key, 40_000)).status).toBe('completed');
    expect(await step(id, 'investigate')).toMatchObject({ status: 'completed', attempt: 2, attempt_base: 1 });
    // The abandoned attempt's call is in the ledger (aborted), and it was handed back, not interrupted.
    expect(await stack.rows(`SELECT attempt, outcome::text, error_type FROM llm_calls WHERE step_id = $1 ORDER BY attempt`, [investigate.id])).toEqual([
      { attempt: 1, outcome: 'unknown', error_type: 'aborted' },
      { attempt: 2, outcome: 'success', error_type: null },
    ]);
    expect((await startedEvents(investigate.id)).map((data) => data.interruptedAttempt)).toEqual([undefined, undefined]);
  }, 60_000);

  it('kill -9 after the outcome of a step is stored but before its result is published: the redelivery publishes the stored result, and the step is not run again', async () => {
    await Promise.all(research().map((agent) => agent.stop()));
    const doomed = await stack.startAgent('research-agent', { ATELIER_CRASH_AT: 'agent:after-step-end' });
    // Everything published on the results subject, as the stream receives it (duplicates included).
    const results: { msgId: string | undefined; stepId: string; status: string }[] = [];
    const { nc } = await stack.jetstream();
    const subscription = nc.subscribe(SUBJECTS.stepResults, {
      callback: (_error, message) => {
        const result = StepResultV1.parse(message.json());
        results.push({ msgId: message.headers?.get('Nats-Msg-Id'), stepId: result.stepId, status: result.status });
      },
    });
    try {
      const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Crash before the result' } });
      await waitFor('the agent to crash', async () => doomed.running, (alive) => !alive, 20_000);
      const investigate = await step(id, 'investigate');
      expect(investigate).toMatchObject({ status: 'completed', attempt: 1 });
      expect(results.filter((result) => result.stepId === investigate.id)).toEqual([]);

      await stack.startAgent('research-agent');
      expect((await stack.waitForTask(id, key, 30_000)).status).toBe('completed');
      // The redelivery (after the ack wait) found the step finished and published its stored
      // outcome; on a loaded machine a second redelivery may publish it again, under the same
      // id, which the stream drops.
      const published = results.filter((result) => result.stepId === investigate.id);
      expect(published.length).toBeGreaterThan(0);
      expect(new Set(published.map((result) => `${result.msgId}/${result.status}`))).toEqual(new Set([`${messageIds.result(investigate.id, 1, 'completed')}/completed`]));
      expect(await step(id, 'investigate')).toMatchObject({ status: 'completed', attempt: 1 });
      expect(await startedEvents(investigate.id)).toHaveLength(1);
      expect(await stack.rows(`SELECT count(*)::int AS n FROM llm_calls WHERE step_id = $1`, [investigate.id])).toEqual([{ n: 1 }]);
    } finally {
      subscription.unsubscribe();
    }
  }, 60_000);

  it("kill -9 after the handler has its answer but before the attempt's end (which carries the call's settlement): the call stays held for the sweeper, the step runs again once", async () => {
    await Promise.all(research().map((agent) => agent.stop()));
    const doomed = await stack.startAgent('research-agent', { ATELIER_CRASH_AT: 'agent:after-handler' });
    const messagesBefore = (await stack.simulatorStats()).messages;
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Crash before the end' } });
    await waitFor('the agent to crash', async () => doomed.running, (alive) => !alive, 20_000);
    const investigate = await step(id, 'investigate');
    expect(investigate).toMatchObject({ status: 'running', attempt: 1 });
    // The answered call is not lost from the money: its reservation still holds the worst case.
    expect(await stack.rows(`SELECT state::text FROM spend_reservations WHERE attempt_id LIKE $1`, [`${investigate.id}:1:%`])).toEqual([{ state: 'reserved' }]);
    expect(await stack.rows(`SELECT count(*)::int AS n FROM llm_calls WHERE step_id = $1`, [investigate.id])).toEqual([{ n: 0 }]);

    await stack.startAgent('research-agent');
    expect((await stack.waitForTask(id, key, 30_000)).status).toBe('completed');
    expect(await step(id, 'investigate')).toMatchObject({ status: 'completed', attempt: 2 });
    expect(await stack.rows(`SELECT attempt, outcome::text FROM llm_calls WHERE step_id = $1`, [investigate.id])).toEqual([{ attempt: 2, outcome: 'success' }]);
    expect((await startedEvents(investigate.id)).map((data) => data.interruptedAttempt)).toEqual([undefined, 1]);
    // Every call the simulator answered is in the ledger or is that recorded interrupted attempt.
    const ledger = (await stack.rows(`SELECT count(*)::int AS n FROM llm_calls WHERE task_id = $1`, [id]))[0].n;
    expect((await stack.simulatorStats()).messages - messagesBefore).toBe(ledger + 1);
  }, 60_000);
});
