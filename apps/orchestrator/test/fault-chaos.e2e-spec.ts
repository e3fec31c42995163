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
    // Exactly one call per step in the ledger: no fault was injected, so every call succeeded,
    // and no completed step ever ran again.
    expect(await stack.rows(`SELECT count(*)::int AS steps FROM (SELECT step_id FROM llm_calls GROUP BY step_id HAVING count(*) = 1 AND bool_and(outcome = 'success')) once`)).toEqual([{ steps: 2 * TASKS }]);
    expect(await stack.rows(`SELECT count(*)::int AS n FROM llm_calls`)).toEqual([{ n: 2 * TASKS }]);
    // Every attempt after a step's first is a recorded interruption, and it accounts for every extra call.
    const [interrupted] = await stack.rows(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'step.started' AND data ? 'interruptedAttempt'`);
    expect(interrupted.n).toBe(steps.retries);
    const extraCalls = (await stack.simulatorStats()).messages - 2 * TASKS;
    expect(extraCalls).toBeGreaterThanOrEqual(0);
    expect(extraCalls).toBeLessThanOrEqual(steps.retries);
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
