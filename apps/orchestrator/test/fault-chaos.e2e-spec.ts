import { STREAMS } from '@atelier/contracts';
import { type AgentApp, AtelierStack } from '@atelier/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';

// 200 tasks on 2 orchestrators, 2 research and 2 writer agents while a chaos loop kills
// (SIGKILL) a random service process every second or so and starts a replacement. Every
// task completes, every step completes once with exactly one successful call in the
// ledger, and each extra call the simulator answered belongs to a recorded interrupted
// attempt.

const TASKS = 200;
const CHAOS_MS = 20_000;

describe('fault: chaos among replicas', () => {
  let stack: AtelierStack;
  let key: string;

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
  }, 120_000);

  afterAll(() => stack?.stop());

  /**
   * Every second or so kills one random running service and starts its replacement in the
   * background (so a kind may be briefly down altogether), until `until` or the time is up.
   */
  async function chaos(until: () => boolean): Promise<string[]> {
    const killed: string[] = [];
    const replacements: Promise<unknown>[] = [];
    const stopAt = Date.now() + CHAOS_MS;
    while (Date.now() < stopAt && !until()) {
      const candidates = [...stack.orchestrators, ...stack.agents].filter((service) => service.running);
      const victim = candidates[Math.floor(Math.random() * candidates.length)];
      if (victim) {
        await victim.kill();
        killed.push(victim.name);
        replacements.push(victim.name === 'orchestrator' ? stack.startOrchestrator() : stack.startAgent(victim.name as AgentApp));
      }
      await sleep(700 + Math.random() * 800);
    }
    await Promise.all(replacements);
    return killed;
  }

  it('completes all 200 tasks, each step once, while service processes are killed at random', async () => {
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
    expect(tasks.filter((task) => task?.status !== 'completed').map((task) => [task?.id, task?.status])).toEqual([]);

    const [steps] = await stack.rows(`SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'completed')::int AS completed, sum(attempt - 1)::int AS retries FROM steps`);
    expect(steps).toMatchObject({ n: 2 * TASKS, completed: 2 * TASKS });
    expect(await stack.rows(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'step.completed'`)).toEqual([{ n: 2 * TASKS }]);
    // Each step's completing attempt made exactly one successful call. Calls from earlier
    // attempts belong to interrupted attempts (killed after the call was settled), and every
    // attempt after a step's first is a recorded interruption.
    const [ledger] = await stack.rows(`
      SELECT count(*) FILTER (WHERE c.attempt = s.attempt AND c.outcome = 'success')::int AS completing,
             count(*) FILTER (WHERE c.attempt < s.attempt)::int AS earlier,
             count(*) FILTER (WHERE c.attempt > s.attempt OR (c.attempt = s.attempt AND c.outcome <> 'success'))::int AS impossible
        FROM llm_calls c JOIN steps s ON s.id = c.step_id`);
    expect(ledger).toMatchObject({ completing: 2 * TASKS, impossible: 0 });
    expect(ledger.earlier).toBeLessThanOrEqual(steps.retries);
    const [interrupted] = await stack.rows(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'step.started' AND data ? 'interruptedAttempt'`);
    expect(interrupted.n).toBe(steps.retries);
    // Nothing unrecorded: every call the simulator answered was reserved first; the
    // reservations still held are those of calls cut off by a kill (the sweeper bills them).
    const [reservations] = await stack.rows(`SELECT count(*)::int AS n, count(*) FILTER (WHERE state = 'reserved')::int AS held FROM spend_reservations`);
    const answered = (await stack.simulatorStats()).messages;
    expect(answered).toBeGreaterThanOrEqual(2 * TASKS);
    expect(reservations.n).toBeGreaterThanOrEqual(answered);
    expect(reservations.held).toBeLessThanOrEqual(steps.retries);
    // No step dispatched twice: one message per step ever reached each agent stream.
    const nc = await connect({ servers: stack.nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      expect((await jsm.streams.info(STREAMS.research.stream)).state.last_seq).toBe(TASKS);
      expect((await jsm.streams.info(STREAMS.writer.stream)).state.last_seq).toBe(TASKS);
    } finally {
      await nc.close();
    }
  }, 240_000);
});
