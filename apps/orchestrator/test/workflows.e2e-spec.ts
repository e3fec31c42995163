import { AtelierStack, STACK_ADMIN_KEY } from '@atelier/testing';
import { DELIVERY_COUNTING_AGENT_ENV } from './support/delivery-counting-env';

// Workflow behaviour end to end: fan-out failure policy, review rounds, the brief workflow,
// Idempotency-Key, SSE progress, dead letters and their replay.

const MAX_ATTEMPTS = 3;

describe('workflows (end to end)', () => {
  let stack: AtelierStack;
  let key: string;

  beforeAll(async () => {
    // count_tokens off: a scripted fault is consumed by every request it matches, count_tokens included.
    stack = await AtelierStack.start({ agentEnv: { STEP_MAX_ATTEMPTS: String(MAX_ATTEMPTS), STEP_RETRY_BACKOFF_MS: '100', LLM_COUNT_TOKENS: 'off', ...DELIVERY_COUNTING_AGENT_ENV } });
    key = await stack.mintKey('acme', ['tasks:write', 'tasks:read']);
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

  it('drafts from the investigations that succeeded when one used up its attempts, and records the task as partial', async () => {
    const goal = 'Grid-scale storage for island networks';
    const questions = await plannedQuestions(goal);
    const doomed = questions[1] as string;
    await stack.queueFault({ fault: '500', count: MAX_ATTEMPTS, match: doomed });

    const id = await stack.submit(key, { input: { goal } });
    const task = await stack.waitForTask(id, key);
    expect(task.status).toBe('completed');
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

  it('fails the task when every investigation failed, keeping the plan; a replayed dead letter brings it back to completion', async () => {
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
    const [audit] = await stack.rows(`SELECT actor, data FROM audit_events WHERE subject = $1 AND action = 'step.replayed'`, [`step:${replayed.id}`]);
    expect(audit).toMatchObject({ actor: expect.stringMatching(/^apikey:/), data: { taskRevived: true, requeuedSteps: ['investigate.1'] } });

    // Only dead letters can be replayed.
    expect((await stack.call(`/v1/dead-letters/${replayed.id}/replay`, { method: 'POST', key: STACK_ADMIN_KEY })).status).toBe(409);
    expect((await stack.call(`/v1/dead-letters/${crypto.randomUUID()}/replay`, { method: 'POST', key: STACK_ADMIN_KEY })).status).toBe(404);
    expect((await stack.call(`/v1/dead-letters/${replayed.id}/replay`, { method: 'POST', key })).status).toBe(403);
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
