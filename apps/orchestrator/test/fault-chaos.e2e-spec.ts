import { STREAMS } from '@atelier/contracts';
import { type AgentApp, AtelierStack } from '@atelier/testing';
import type { JetStreamManager } from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';

// 2 orchestrators, 2 research and 2 writer agents. First research-report's fan-in with
// results of the same task handled by both orchestrators at once: every join fires once.
// Then 200 tasks while a chaos loop kills (SIGKILL) a service process every second or so
// (an orchestrator and each agent kind among the first three) and starts a replacement:
// every task completes, every step completes once with exactly one successful call in
// the ledger, and each extra call the simulator answered belongs to a recorded
// interrupted attempt.

const JOIN_TASKS = 20;
const TASKS = 200;
const CHAOS_MS = 20_000;

describe('fault: concurrency and chaos among replicas', () => {
  let stack: AtelierStack;
  let key: string;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    stack = await AtelierStack.start({
      orchestrators: 2,
      researchAgents: 2,
      writerAgents: 2,
      env: { STEP_ACK_WAIT_MS: '2000', DATABASE_POOL_MAX: '3' },
      orchestratorEnv: { RELAY_INTERVAL_MS: '1000' },
      agentEnv: { AGENT_CONCURRENCY: '4' },
    });
    key = await stack.mintKey('acme', ['tasks:write', 'tasks:read']);
    ({ jsm } = await stack.jetstream());
  }, 120_000);

  afterAll(() => stack?.stop());

  /** Messages ever stored on a stream (work queues delete acknowledged ones; the sequence stays). */
  const published = async (stream: string) => (await jsm.streams.info(stream)).state.last_seq;

  it('fires each research-report join once with two orchestrators: one draft and one review chain per task', async () => {
    const writerBefore = await published(STREAMS.writer.stream);
    // Equal latencies: a task's investigations finish together, so their results meet at the join.
    const ids = await Promise.all(Array.from({ length: JOIN_TASKS }, (_, n) => stack.submit(key, { input: { goal: `Join ${n} of grid batteries [[sim:latency=300]]` } })));
    const tasks = await Promise.all(ids.map((id) => stack.waitForTask(id, key, 60_000)));
    expect(tasks.filter((task) => task?.status !== 'completed').map((task) => [task?.id, task?.status])).toEqual([]);

    // Per task: the planned investigations, ONE draft depending on all of them, ONE review (the simulator approves).
    const shapes = await stack.rows(
      `SELECT s.task_id,
              count(*) FILTER (WHERE s.kind = 'research.investigate')::int AS investigations,
              count(*) FILTER (WHERE s.kind = 'writer.draft')::int AS drafts,
              array_agg(s.key ORDER BY s.key) FILTER (WHERE s.kind = 'writer.review') AS reviews,
              max(cardinality(s.depends_on)) FILTER (WHERE s.kind = 'writer.draft')::int AS joined,
              jsonb_array_length(max(s.output::text) FILTER (WHERE s.kind = 'research.plan')::jsonb -> 'questions') AS planned
         FROM steps s WHERE s.task_id = ANY($1::uuid[]) GROUP BY s.task_id`,
      [ids],
    );
    expect(shapes).toHaveLength(JOIN_TASKS);
    for (const shape of shapes) expect(shape).toMatchObject({ investigations: shape.planned, drafts: 1, reviews: ['review.1'], joined: shape.planned });
    // Each writer step was planned once (one step.queued event each) and dispatched once (one message each).
    const [planned] = await stack.rows(
      `SELECT count(*)::int AS events, count(DISTINCT subject)::int AS steps FROM audit_events WHERE task_id = ANY($1::uuid[]) AND action = 'step.queued' AND data->>'kind' LIKE 'writer.%'`,
      [ids],
    );
    expect(planned).toEqual({ events: 2 * JOIN_TASKS, steps: 2 * JOIN_TASKS });
    expect((await published(STREAMS.writer.stream)) - writerBefore).toBe(2 * JOIN_TASKS);
    expect(await stack.rows(`SELECT count(*)::int AS n FROM audit_events WHERE task_id = ANY($1::uuid[]) AND action = 'task.completed'`, [ids])).toEqual([{ n: JOIN_TASKS }]);
  }, 120_000);

  /**
   * Every second or so kills one running service and starts its replacement in the
   * background (so a kind may be briefly down altogether), until `until` or the time is
   * up. The first three victims are an orchestrator, a research agent and a writer agent;
   * then any.
   */
  async function chaos(until: () => boolean): Promise<string[]> {
    const killed: string[] = [];
    const replacements: Promise<unknown>[] = [];
    const firstVictims = ['orchestrator', 'research-agent', 'writer-agent'];
    const stopAt = Date.now() + CHAOS_MS;
    while (Date.now() < stopAt && (!until() || killed.length < firstVictims.length)) {
      const kind = firstVictims[killed.length];
      const candidates = [...stack.orchestrators, ...stack.agents].filter((service) => service.running && (!kind || service.name === kind));
      const victim = candidates[Math.floor(Math.random() * candidates.length)];
      if (victim) {
        await victim.kill();
        killed.push(victim.name);
        replacements.push(replace(victim.name));
      }
      await sleep(700 + Math.random() * 800);
    }
    await Promise.all(replacements);
    return killed;
  }

  /** Starts a replacement; a start that times out on a loaded machine (the test's own load) is tried again. */
  async function replace(name: string): Promise<void> {
    for (let tries = 1; ; tries++) {
      try {
        await (name === 'orchestrator' ? stack.startOrchestrator() : stack.startAgent(name as AgentApp));
        return;
      } catch (error) {
        if (tries === 3) throw error;
      }
    }
  }

  it('completes all 200 tasks, each step once, while service processes are killed at random', async () => {
    const before = { research: await published(STREAMS.research.stream), writer: await published(STREAMS.writer.stream), answered: (await stack.simulatorStats()).messages };
    const ids = await Promise.all(Array.from({ length: TASKS }, (_, n) => stack.submit(key, { workflow: 'brief', input: { goal: `Chaos ${n} [[sim:latency=400]]` } })));
    let finished = 0;
    const waiting = Promise.all(
      ids.map(async (id) => {
        const task = await stack.waitForTask(id, key, 150_000);
        finished += 1;
        return task;
      }),
    );
    const killed = await chaos(() => finished === TASKS);
    const tasks = await waiting;
    expect(killed.length).toBeGreaterThan(5);
    expect(new Set(killed)).toEqual(new Set(['orchestrator', 'research-agent', 'writer-agent']));
    expect(tasks.filter((task) => task?.status !== 'completed').map((task) => [task?.id, task?.status])).toEqual([]);

    const [steps] = await stack.rows(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'completed')::int AS completed, sum(attempt - 1)::int AS retries FROM steps WHERE task_id = ANY($1::uuid[])`,
      [ids],
    );
    expect(steps).toMatchObject({ n: 2 * TASKS, completed: 2 * TASKS });
    expect(await stack.rows(`SELECT count(*)::int AS n FROM audit_events WHERE task_id = ANY($1::uuid[]) AND action = 'step.completed'`, [ids])).toEqual([{ n: 2 * TASKS }]);
    // Each step's completing attempt made exactly one successful call. Calls from earlier
    // attempts belong to interrupted attempts (killed after the call was settled), and every
    // attempt after a step's first is a recorded interruption.
    const [ledger] = await stack.rows(
      `SELECT count(*) FILTER (WHERE c.attempt = s.attempt AND c.outcome = 'success')::int AS completing,
              count(*) FILTER (WHERE c.attempt < s.attempt)::int AS earlier,
              count(*) FILTER (WHERE c.attempt > s.attempt OR (c.attempt = s.attempt AND c.outcome <> 'success'))::int AS impossible
         FROM llm_calls c JOIN steps s ON s.id = c.step_id WHERE s.task_id = ANY($1::uuid[])`,
      [ids],
    );
    expect(ledger).toMatchObject({ completing: 2 * TASKS, impossible: 0 });
    expect(ledger.earlier).toBeLessThanOrEqual(steps.retries);
    const [interrupted] = await stack.rows(
      `SELECT count(*)::int AS n FROM audit_events WHERE task_id = ANY($1::uuid[]) AND action = 'step.started' AND data ? 'interruptedAttempt'`,
      [ids],
    );
    expect(interrupted.n).toBe(steps.retries);
    // Nothing unrecorded: every call the simulator answered was reserved first; the
    // reservations still held are those of calls cut off by a kill (the sweeper bills them).
    const [reservations] = await stack.rows(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE state = 'reserved')::int AS held FROM spend_reservations WHERE task_id = ANY($1::uuid[])`,
      [ids],
    );
    const answered = (await stack.simulatorStats()).messages - before.answered;
    expect(answered).toBeGreaterThanOrEqual(2 * TASKS);
    expect(reservations.n).toBeGreaterThanOrEqual(answered);
    expect(reservations.held).toBeLessThanOrEqual(steps.retries);
    // No step dispatched twice: one message per step ever reached each agent stream.
    expect((await published(STREAMS.research.stream)) - before.research).toBe(TASKS);
    expect((await published(STREAMS.writer.stream)) - before.writer).toBe(TASKS);
  }, 240_000);
});
