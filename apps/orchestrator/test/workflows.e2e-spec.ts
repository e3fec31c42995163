import { STREAMS, SUBJECTS } from '@atelier/contracts';
import { AtelierStack, STACK_ADMIN_KEY } from '@atelier/testing';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { DELIVERY_COUNTING_AGENT_ENV } from './support/delivery-counting-env';
import { waitFor } from './support/wait-for';

// Workflow behaviour end to end: fan-out failure policy, review rounds, the brief workflow,
// Idempotency-Key, SSE progress, dead letters and their replay.

const MAX_ATTEMPTS = 3;

describe('workflows (end to end)', () => {
  let stack: AtelierStack;
  let key: string;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    // count_tokens off: a scripted fault is consumed by every request it matches, count_tokens included.
    stack = await AtelierStack.start({ agentEnv: { STEP_MAX_ATTEMPTS: String(MAX_ATTEMPTS), STEP_RETRY_BACKOFF_MS: '100', LLM_COUNT_TOKENS: 'off', ...DELIVERY_COUNTING_AGENT_ENV } });
    key = await stack.mintKey('acme', ['tasks:write', 'tasks:read']);
    ({ nc, jsm } = await stack.jetstream());
  }, 90_000);

  afterAll(() => stack?.stop());

  /** The questions the simulator's planner will return for `goal` (it is deterministic). */
  async function plannedQuestions(goal: string): Promise<string[]> {
    return (JSON.parse(await stack.simulatorReply('You are a research planner.', `Goal: ${goal}`)) as { questions: string[] }).questions;
  }

  const stepsOf = (taskId: string) => stack.rows(`SELECT key, status::text, attempt, input, output, error FROM steps WHERE task_id = $1 ORDER BY key`, [taskId]);

  it('runs the brief workflow: one investigation of the goal, then the draft', async () => {
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Heat pumps for older houses' } });
    const task = await stack.waitForTask(id, key);
    expect(task).toMatchObject({ status: 'completed', workflow: 'brief', result: { document: expect.stringContaining('# Heat pumps for older houses') } });
    expect(task.steps.map((step: { key: string; status: string }) => `${step.key}:${step.status}`)).toEqual(['investigate:completed', 'draft:completed']);
  });

  it('drafts from the investigations that succeeded when one used up its attempts, says the result is partial, and refuses to replay what it went on without', async () => {
    const goal = 'Grid-scale storage for island networks [[sim:latency=700]]';
    const questions = await plannedQuestions(goal);
    const doomed = questions[1] as string;
    await stack.queueFault({ fault: '500', count: MAX_ATTEMPTS, match: doomed });

    const id = await stack.submit(key, { input: { goal } });
    // While the draft (which joined the other findings) runs, the tolerated dead letter
    // cannot be replayed: its findings could change nothing. Refused, and nothing changes.
    const drafting = await waitFor('the draft', () => stack.rows(`SELECT status::text FROM steps WHERE task_id = $1 AND key IN ('draft', 'review.1')`, [id]), (rows) => rows.length > 0, 30_000);
    expect(drafting).not.toContainEqual({ status: 'completed' });
    const [doomedStep] = await stack.rows(`SELECT id FROM steps WHERE task_id = $1 AND key = 'investigate.2'`, [id]);
    const refused = await stack.call(`/v1/dead-letters/${doomedStep.id}/replay`, { method: 'POST', key: STACK_ADMIN_KEY });
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect((await AtelierStack.body(refused)).detail).toContain('investigate.2 failed and its workflow went on without it (draft');
    expect(await stack.rows(`SELECT count(*)::int AS n FROM audit_events WHERE subject = $1 AND action = 'step.replayed'`, [`step:${doomedStep.id}`])).toEqual([{ n: 0 }]);

    const task = await stack.waitForTask(id, key);
    expect(task.status).toBe('completed');
    // The API says what the audit trail says: a partial completion, and which steps it went without.
    expect(task.result).toEqual({ document: expect.stringContaining('#'), partial: true, failedSteps: ['investigate.2'] });
    const steps = await stepsOf(id);
    const failed = steps.find((step) => step.input.question === doomed);
    expect(failed).toMatchObject({ key: 'investigate.2', status: 'dead_lettered', attempt: MAX_ATTEMPTS, error: { code: 'LLM_UNAVAILABLE', retryable: true } });
    const draft = steps.find((step) => step.key === 'draft');
    expect(draft.input.unanswered).toEqual([doomed]);
    expect(draft.input.findings).toHaveLength(questions.length - 1);
    const [completed] = await stack.rows(`SELECT data FROM audit_events WHERE task_id = $1 AND action = 'task.completed'`, [id]);
    expect(completed.data).toMatchObject({ partial: true, failedSteps: ['investigate.2'] });

    // The dead letter is recorded: row, audit event, metric, and the admin listing.
    const [deadLettered] = await stack.rows(`SELECT data FROM audit_events WHERE subject = $1 AND action = 'step.dead_lettered'`, [`step:${task.steps[2].id}`]);
    expect(deadLettered.data).toMatchObject({ code: 'LLM_UNAVAILABLE' });
    const listing = await stack.json('/v1/dead-letters?limit=100', { key: STACK_ADMIN_KEY });
    expect(listing.items).toContainEqual({
      stepId: task.steps[2].id,
      taskId: id,
      tenant: 'acme',
      kind: 'research.investigate',
      agent: 'research',
      attempts: MAX_ATTEMPTS,
      error: expect.objectContaining({ code: 'LLM_UNAVAILABLE' }),
      deadLetteredAt: expect.any(String),
    });
    const research = stack.agents.find((agent) => agent.name === 'research-agent');
    expect(await (await fetch(`${research?.url}/metrics`)).text()).toMatch(/atelier_dead_letters_total\{[^}]*agent="research"[^}]*\} [1-9]/);
  }, 60_000);

  it('fails the task when every investigation failed, keeping the plan; a replayed dead letter brings it back to completion on that plan', async () => {
    const goal = 'Hydrogen trains on rural lines';
    const questions = await plannedQuestions(goal);
    for (const question of questions) await stack.queueFault({ fault: '500', count: MAX_ATTEMPTS, match: question });

    const id = await stack.submit(key, { input: { goal } });
    const failed = await stack.waitForTask(id, key);
    expect(failed).toMatchObject({
      status: 'failed',
      error: { code: 'STEP_FAILED', step: expect.stringMatching(/^investigate\.\d$/), cause: { code: 'LLM_UNAVAILABLE' } },
      result: { partial: true, findings: [] },
    });
    expect(failed.steps.filter((step: { status: string }) => step.status === 'dead_lettered')).toHaveLength(questions.length);
    expect(failed.steps[0]).toMatchObject({ key: 'plan', status: 'completed' });

    // Replaying one of them (the simulator answers again by now) revives the task: the join
    // fires with one investigation succeeded, and the task completes.
    const replayed = failed.steps.find((step: { key: string }) => step.key === 'investigate.1');
    const response = await stack.call(`/v1/dead-letters/${replayed.id}/replay`, { method: 'POST', key: STACK_ADMIN_KEY });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ stepId: replayed.id, taskId: id, status: 'queued', taskStatus: 'running' });
    const revived = await stack.waitForTask(id, key);
    expect(revived.status).toBe('completed');
    expect(revived.error).toBeUndefined();
    const steps = await stepsOf(id);
    expect(steps.find((step) => step.key === 'investigate.1')).toMatchObject({ status: 'completed', attempt: MAX_ATTEMPTS + 1 });
    expect(steps.find((step) => step.key === 'draft')?.input.findings).toHaveLength(1);
    // The plan was kept: the revived task went on from it, never planning again.
    expect(steps.find((step) => step.key === 'plan')).toMatchObject({ status: 'completed', attempt: 1, output: { questions } });
    const planCalls = await stack.rows(`SELECT count(*)::int AS n FROM llm_calls c JOIN steps s ON s.id = c.step_id WHERE s.task_id = $1 AND s.key = 'plan'`, [id]);
    expect(planCalls).toEqual([{ n: 1 }]);
    // Its progress read from the start runs through the revival to the end that counts: the failed end is not sent.
    const events = await readEvents(`/v1/tasks/${id}/events`);
    expect(events.filter((event) => event.event === 'task.finished').map((event) => event.data.status)).toEqual(['completed']);
    expect(events.at(-1)).toMatchObject({ event: 'task.finished', id: expect.any(String), data: { status: 'completed' } });
    expect(events.filter((event) => event.data.stepId === replayed.id).map((event) => event.event)).toEqual(expect.arrayContaining(['step.failed', 'step.completed']));
    const [audit] = await stack.rows(`SELECT actor, data FROM audit_events WHERE subject = $1 AND action = 'step.replayed'`, [`step:${replayed.id}`]);
    expect(audit).toMatchObject({ actor: expect.stringMatching(/^apikey:/), data: { taskRevived: true, requeuedSteps: ['investigate.1'] } });

    // Only dead letters can be replayed.
    expect((await stack.call(`/v1/dead-letters/${replayed.id}/replay`, { method: 'POST', key: STACK_ADMIN_KEY })).status).toBe(409);
    expect((await stack.call(`/v1/dead-letters/${crypto.randomUUID()}/replay`, { method: 'POST', key: STACK_ADMIN_KEY })).status).toBe(404);
    expect((await stack.call(`/v1/dead-letters/${replayed.id}/replay`, { method: 'POST', key })).status).toBe(403);
  }, 60_000);

  it('ends a replayed task again each time: a replay that fails again fails the task again, and a revived task cancelled again has its call aborted', async () => {
    const goal = `Replayed again ${Date.now()}`;
    await stack.queueFault({ fault: '500', count: MAX_ATTEMPTS, match: goal });
    const id = await stack.submit(key, { workflow: 'brief', input: { goal } });
    expect((await stack.waitForTask(id, key)).status).toBe('failed');
    const [step] = await stack.rows(`SELECT id FROM steps WHERE task_id = $1 AND key = 'investigate'`, [id]);
    const replay = () => stack.call(`/v1/dead-letters/${step.id}/replay`, { method: 'POST', key: STACK_ADMIN_KEY });

    // Within the broker's 2-minute duplicate window, the second failure is news: the task fails again.
    await stack.queueFault({ fault: '500', count: MAX_ATTEMPTS, match: goal });
    expect((await replay()).status).toBe(202);
    const again = await stack.waitForTask(id, key, 15_000);
    expect(again).toMatchObject({ status: 'failed', error: { code: 'STEP_FAILED', step: 'investigate' } });
    expect(await stack.rows(`SELECT status::text, attempt, dispatch_seq FROM steps WHERE id = $1`, [step.id])).toEqual([{ status: 'dead_lettered', attempt: 2 * MAX_ATTEMPTS, dispatch_seq: 2 }]);

    // Revived once more, its call hangs; a cancel must reach the agent (a new stop notice, not a duplicate of the last).
    await stack.queueFault({ fault: 'hang', count: 1, match: goal });
    expect((await replay()).status).toBe(202);
    await waitFor('the step running again', () => stack.rows(`SELECT attempt FROM steps WHERE id = $1 AND status = 'running'`, [step.id]), (rows) => rows[0]?.attempt === 2 * MAX_ATTEMPTS + 1);
    await sleep(300); // the model call is out
    const cancelledAt = Date.now();
    expect((await stack.call(`/v1/tasks/${id}/cancel`, { method: 'POST', key })).status).toBe(200);
    await waitFor(
      'the hanging call aborted',
      () => stack.rows(`SELECT outcome::text, error_type FROM llm_calls WHERE step_id = $1 AND attempt = $2`, [step.id, 2 * MAX_ATTEMPTS + 1]),
      (calls) => calls.length > 0,
      5_000,
    );
    expect(Date.now() - cancelledAt).toBeLessThan(5_000);
  }, 60_000);

  it('revises and reviews again while the reviewer rejects, and stops at the bound with the last revision', async () => {
    const id = await stack.submit(key, { input: { goal: 'Ferry electrification [[sim:review=reject]]' } });
    const task = await stack.waitForTask(id, key);
    expect(task.status).toBe('completed');
    const reviews = (await stepsOf(id)).filter((step) => step.key.startsWith('review.'));
    expect(reviews.map((step) => [step.key, step.output.approved, step.output.revised])).toEqual([
      ['review.1', false, true],
      ['review.2', false, true],
    ]);
    expect(reviews[1].input.document).toBe(reviews[0].output.document);
    expect(task.result.document).toBe(reviews[1].output.document);
    const calls = await stack.rows(`SELECT s.key, count(*)::int AS n FROM llm_calls c JOIN steps s ON s.id = c.step_id WHERE c.task_id = $1 AND s.key LIKE 'review.%' GROUP BY s.key ORDER BY s.key`, [id]);
    expect(calls).toEqual([
      { key: 'review.1', n: 2 },
      { key: 'review.2', n: 2 },
    ]);
    // The findings are the calls' cached shared context: round 1 writes the cache, round 2
    // (same system prompts, same findings) reads it instead of paying full input price.
    const caching = await stack.rows(
      `SELECT s.key, bool_and(c.cache_creation_input_tokens > 0) AS wrote, bool_and(c.cache_read_input_tokens > 0) AS read
         FROM llm_calls c JOIN steps s ON s.id = c.step_id WHERE c.task_id = $1 AND s.key LIKE 'review.%' GROUP BY s.key ORDER BY s.key`,
      [id],
    );
    expect(caching).toEqual([
      { key: 'review.1', wrote: true, read: false },
      { key: 'review.2', wrote: false, read: true },
    ]);
  }, 60_000);

  it('answers the same task for the same Idempotency-Key and body, 422 for another body, and writes nothing more', async () => {
    const body = { workflow: 'brief', input: { goal: 'Idempotent submits' } };
    const headers = { 'idempotency-key': `idem-${Date.now()}` };
    const [first, second] = await Promise.all([stack.submit(key, body, headers), stack.submit(key, body, headers)]);
    expect(second).toBe(first);
    expect(await stack.submit(key, body, headers)).toBe(first);
    const tasks = await stack.rows(`SELECT count(*)::int AS n FROM tasks WHERE idempotency_key = $1`, [headers['idempotency-key']]);
    expect(tasks).toEqual([{ n: 1 }]);

    const audit = async () => (await stack.rows(`SELECT count(*)::int AS n FROM audit_events`))[0].n;
    await stack.waitForTask(first, key);
    const before = await audit();
    const other = await stack.call('/v1/tasks', { method: 'POST', key, headers, body: JSON.stringify({ ...body, input: { goal: 'Something else' } }) });
    expect(other.status).toBe(422);
    expect(other.headers.get('content-type')).toContain('application/problem+json');
    expect(await audit()).toBe(before);
  });

  it('streams progress as Server-Sent Events and resumes after Last-Event-ID', async () => {
    const id = await stack.submit(key, { workflow: 'brief', input: { goal: 'Streaming progress [[sim:latency=300]]' } });
    const all = await readEvents(`/v1/tasks/${id}/events`);
    expect(all.map((event) => `${event.event}:${event.data.key ?? event.data.status}`)).toEqual([
      'step.started:investigate',
      'step.completed:investigate',
      'step.started:draft',
      'step.completed:draft',
      'task.finished:completed',
    ]);
    expect(all.every((event) => event.data.taskId === id)).toBe(true);
    const ids = all.map((event) => Number(event.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));

    const resumed = await readEvents(`/v1/tasks/${id}/events`, { 'last-event-id': String(ids[1]) });
    expect(resumed.map((event) => event.id)).toEqual(all.slice(2).map((event) => event.id));

    // A finished task still ends its stream; a bad Last-Event-ID is a 400.
    expect((await readEvents(`/v1/tasks/${id}/events`, { 'last-event-id': String(ids.at(-1)) })).map((event) => event.event)).toEqual(['task.finished']);
    expect((await stack.call(`/v1/tasks/${id}/events`, { key, headers: { 'last-event-id': 'yesterday' } })).status).toBe(400);
  }, 30_000);

  it('keeps a stream consistent with the task rows: waits for events published late, makes up the ones that never came', async () => {
    /** The task's events in TASK_EVENTS, oldest first. */
    async function storedEvents(taskId: string): Promise<{ seq: number; event: Record<string, unknown> }[]> {
      const consumer = await jsm.jetstream().consumers.get(STREAMS.taskEvents.stream, { filter_subjects: SUBJECTS.taskEvents(taskId) });
      const count = (await consumer.info(true)).num_pending;
      const stored = [];
      if (count > 0) for await (const message of await consumer.fetch({ max_messages: count, expires: 2_000 })) if (stored.push({ seq: message.seq, event: message.json<Record<string, unknown>>() }) === count) break;
      await consumer.delete().catch(() => undefined);
      return stored;
    }
    /** Removes the task's last `count` events from TASK_EVENTS, as if not published yet; returns them, oldest first. */
    async function withholdLastEvents(taskId: string, count: number) {
      const stored = await waitFor('the task.finished event stored', () => storedEvents(taskId), (events) => events.at(-1)?.event['event'] === 'task.finished');
      const withheld = stored.slice(-count);
      for (const { seq } of withheld) await jsm.streams.deleteMessage(STREAMS.taskEvents.stream, seq);
      return withheld.map(({ event }) => event);
    }

    // The database says the task finished a moment ago; its last events are still on their way.
    const late = await stack.submit(key, { workflow: 'brief', input: { goal: 'Events published late' } });
    await stack.waitForTask(late, key);
    const withheld = await withholdLastEvents(late, 2);
    expect(withheld.map((event) => event['event'])).toEqual(['step.completed', 'task.finished']);
    await stack.rows(`UPDATE tasks SET completed_at = now() WHERE id = $1`, [late]);
    const reading = readEvents(`/v1/tasks/${late}/events`);
    await sleep(300);
    for (const event of withheld) nc.publish(SUBJECTS.taskEvents(late), JSON.stringify(event));
    await nc.flush();
    const lateEvents = await reading;
    expect(lateEvents.map((event) => `${event.event}:${event.data.key ?? event.data.status}:${event.id === undefined ? 'made-up' : 'stream'}`)).toEqual([
      'step.started:investigate:stream',
      'step.completed:investigate:stream',
      'step.started:draft:stream',
      'step.completed:draft:stream',
      'task.finished:completed:stream',
    ]);

    // Events that never came (lost, or expired): made up from the rows, after the ones the stream has.
    const lost = await stack.submit(key, { workflow: 'brief', input: { goal: 'Events lost' } });
    await stack.waitForTask(lost, key);
    await withholdLastEvents(lost, 2);
    const lostEvents = await readEvents(`/v1/tasks/${lost}/events`);
    expect(lostEvents.map((event) => `${event.event}:${event.data.key ?? event.data.status}:${event.id === undefined ? 'made-up' : 'stream'}`)).toEqual([
      'step.started:investigate:stream',
      'step.completed:investigate:stream',
      'step.started:draft:stream',
      'step.completed:draft:made-up',
      'task.finished:completed:made-up',
    ]);
    expect(lostEvents[3]?.data).toMatchObject({ taskId: lost, kind: 'writer.draft', status: 'completed', stepId: expect.any(String) });
  }, 30_000);

  async function readEvents(path: string, headers: Record<string, string> = {}) {
    const response = await stack.call(path, { key, headers });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const text = await response.text(); // the server ends the stream after task.finished
    return text
      .split('\n\n')
      .filter((block) => block.includes('event: '))
      .map((block) => {
        const field = (name: string) => block.split('\n').find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2);
        return { id: field('id'), event: field('event'), data: JSON.parse(field('data') ?? '{}') };
      });
  }
});
