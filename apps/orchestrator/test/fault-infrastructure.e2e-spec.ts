import { AtelierStack, type PrivatePostgres, startPrivatePostgres } from '@atelier/testing';
import { setTimeout as sleep } from 'node:timers/promises';

// NATS (JetStream file storage) and Postgres restarting under load: every accepted task
// completes, and while the database is down the API answers 503 with Retry-After, never
// 500, then recovers without any process being restarted. Postgres is a private one.
//
// NATS is restarted both gracefully and with kill -9. nats-server 2.9 buffers writes and
// syncs its files every 2 minutes by default, so a kill -9 may lose messages it had
// acknowledged (dispatches, results, acks): Postgres is the record, and the relay
// (re-publishing lost step messages, advancing tasks whose result was lost) must cover it.

describe('fault: NATS and Postgres restart under load', () => {
  let postgres: PrivatePostgres;
  let stack: AtelierStack;
  let key: string;

  beforeAll(async () => {
    postgres = await startPrivatePostgres();
    stack = await AtelierStack.start({
      postgresServer: postgres.url,
      env: { STEP_ACK_WAIT_MS: '2000' },
      orchestratorEnv: { RELAY_INTERVAL_MS: '1000' },
      agentEnv: { AGENT_CONCURRENCY: '16' },
    });
    key = await stack.mintKey('acme', ['tasks:write', 'tasks:read']);
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
    await postgres?.stop();
  });

  const submitMany = (count: number, label: string) =>
    Promise.all(Array.from({ length: count }, (_, n) => stack.submit(key, { workflow: 'brief', input: { goal: `${label} ${n} [[sim:latency=150]]` } })));

  async function expectAllCompleted(ids: string[], timeoutMs: number): Promise<void> {
    const tasks = await Promise.all(ids.map((id) => stack.waitForTask(id, key, timeoutMs)));
    expect(tasks.filter((task) => task?.status !== 'completed').map((task) => [task?.id, task?.status])).toEqual([]);
    const completedSteps = await stack.rows(`SELECT count(*)::int AS n FROM steps WHERE task_id = ANY($1::uuid[]) AND status = 'completed'`, [ids]);
    expect(completedSteps).toEqual([{ n: ids.length * 2 }]);
    // Effectively once: one successful model call per step, whatever was redelivered or relayed.
    const calls = await stack.rows(`SELECT count(*)::int AS n FROM llm_calls WHERE task_id = ANY($1::uuid[]) AND outcome = 'success'`, [ids]);
    expect(calls).toEqual([{ n: ids.length * 2 }]);
  }

  it.each(['SIGTERM', 'SIGKILL'] as const)('completes every accepted task across a NATS restart (%s) in the middle of 100 tasks', async (signal) => {
    const first = await submitMany(60, `Before the NATS restart (${signal})`);
    await sleep(300);
    const restarting = stack.nats.restart(signal);
    // Accepted while NATS is away: committed, published by the relay once it is back.
    const during = await submitMany(20, `During the NATS restart (${signal})`);
    await restarting;
    const after = await submitMany(20, `After the NATS restart (${signal})`);
    await expectAllCompleted([...first, ...during, ...after], 60_000);
  }, 90_000);

  it('answers 503 with Retry-After while Postgres is down, recovers without a restart, and completes every accepted task', async () => {
    const accepted = await submitMany(40, 'Before the Postgres restart');
    await sleep(300);
    await postgres.stopServer();

    const submit = await stack.call('/v1/tasks', { method: 'POST', key, body: JSON.stringify({ workflow: 'brief', input: { goal: 'While Postgres is down' } }) });
    expect(submit.status).toBe(503);
    expect(submit.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(submit.headers.get('content-type')).toContain('application/problem+json');
    const read = await stack.call(`/v1/tasks/${accepted[0]}`, { key });
    expect(read.status).toBe(503);
    await sleep(2_000); // long enough for agents and the coordinator to hit the outage

    await postgres.startServer();
    const afterwards = await submitMany(10, 'After the Postgres restart');
    await expectAllCompleted([...accepted, ...afterwards], 60_000);
    const orchestratorLogs = stack.orchestrators.flatMap((service) => service.logs);
    expect(orchestratorLogs.filter((line) => line.includes('unhandled error'))).toEqual([]);
    expect(stack.orchestrators.every((service) => service.running) && stack.agents.every((service) => service.running)).toBe(true);
  }, 90_000);
});
