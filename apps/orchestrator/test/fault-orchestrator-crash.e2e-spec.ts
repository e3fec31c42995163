import { STREAMS } from '@atelier/contracts';
import { AtelierStack } from '@atelier/testing';
import type { JetStreamManager } from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';

// The orchestrator killed (SIGKILL, through a crash point) between a commit and the
// publish that should follow it: the relay and redelivered results finish the work, and
// the broker's de-duplication keeps every step to one dispatch message.

const RELAY_INTERVAL_MS = 500;

describe('fault: the orchestrator dies between commit and publish', () => {
  let stack: AtelierStack;
  let key: string;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    stack = await AtelierStack.start({ orchestrators: 0, orchestratorEnv: { RELAY_INTERVAL_MS: String(RELAY_INTERVAL_MS) } });
    await stack.startOrchestrator();
    key = await stack.mintKey('acme', ['tasks:write', 'tasks:read']);
    ({ jsm } = await stack.jetstream());
  }, 90_000);

  afterAll(() => stack?.stop());

  /** Messages ever stored on an agent's stream (work-queue streams delete acknowledged ones, the sequence stays). */
  const published = async (stream: string) => (await jsm.streams.info(stream)).state.last_seq;

  /** SIGTERMs the running orchestrators (each must exit 0 after its graceful shutdown) and starts one with `extraEnv`. */
  async function replaceOrchestrators(extraEnv: Record<string, string> = {}): Promise<void> {
    const exitCodes = await Promise.all(stack.orchestrators.filter((service) => service.running).map((service) => service.stop()));
    expect(exitCodes.every((code) => code === 0)).toBe(true);
    await stack.startOrchestrator(extraEnv);
  }

  it('kill -9 after advancing a task but before publishing its next step: after a restart the task completes, no step dispatched twice', async () => {
    await replaceOrchestrators({ ATELIER_CRASH_AT: 'orchestrator:after-advance' });
    const [doomed] = stack.orchestrators.filter((service) => service.running);
    const writerBefore = await published(STREAMS.writer.stream);

    const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Crash after the join' } });
    // The investigate result arrives, the draft is inserted and committed, and the process dies.
    for (let waited = 0; doomed?.running && waited < 20_000; waited += 50) await sleep(50);
    expect(doomed?.running).toBe(false);
    expect(doomed?.logs.some((line) => line.includes('orchestrator:after-advance'))).toBe(true);
    const [draft] = await stack.rows(`SELECT status::text, dispatched_at FROM steps WHERE task_id = $1 AND key = 'draft'`, [id]);
    expect(draft).toEqual({ status: 'queued', dispatched_at: null });

    await stack.startOrchestrator();
    const task = await stack.waitForTask(id, key, 30_000);
    expect(task.status).toBe('completed');
    // The relay or the redelivered result published the draft once; the other was a duplicate the broker dropped.
    expect((await published(STREAMS.writer.stream)) - writerBefore).toBe(1);
    const steps = await stack.rows(`SELECT key, attempt FROM steps WHERE task_id = $1 ORDER BY key`, [id]);
    expect(steps).toEqual([
      { key: 'draft', attempt: 1 },
      { key: 'investigate', attempt: 1 },
    ]);
    // The redelivered investigate result (held by the dead process) is handled again without effect.
    await sleep(11_000);
    expect(await stack.rows(`SELECT count(*)::int AS n FROM steps WHERE task_id = $1`, [id])).toEqual([{ n: 2 }]);
    expect((await published(STREAMS.writer.stream)) - writerBefore).toBe(1);
    expect(await stack.rows(`SELECT count(*)::int AS n FROM audit_events WHERE task_id = $1 AND action = 'task.completed'`, [id])).toEqual([{ n: 1 }]);
  }, 60_000);

  it('kill -9 between the submit commit and the publish: the relay of either of two replicas publishes the steps once', async () => {
    await replaceOrchestrators({ ATELIER_CRASH_AT: 'orchestrator:after-submit-commit' });
    const researchBefore = await published(STREAMS.research.stream);
    const submit = await stack.call('/v1/tasks', { method: 'POST', key, body: JSON.stringify({ workflow: 'brief', input: { goal: 'Crash before publishing' } }) }).catch((error: Error) => error);
    expect(submit).toMatchObject({ message: 'fetch failed' }); // the connection died with the process: no 202 was sent
    const [task] = await stack.rows(`SELECT id, status::text FROM tasks WHERE input->>'goal' = 'Crash before publishing'`);
    expect(task).toMatchObject({ status: 'queued' }); // but the task was committed: accepted means durable
    expect(await published(STREAMS.research.stream)).toBe(researchBefore);

    await Promise.all([stack.startOrchestrator(), stack.startOrchestrator()]);
    const done = await stack.waitForTask(task.id, key, 30_000);
    expect(done.status).toBe('completed');
    expect((await published(STREAMS.research.stream)) - researchBefore).toBe(1);
    expect(await stack.rows(`SELECT attempt FROM steps WHERE task_id = $1 AND key = 'investigate'`, [task.id])).toEqual([{ attempt: 1 }]);
  }, 60_000);
});
