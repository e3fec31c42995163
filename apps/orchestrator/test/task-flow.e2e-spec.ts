import Decimal from 'decimal.js';
import { AtelierStack, STACK_ADMIN_KEY } from '@atelier/testing';

// The main path end to end: the built services as separate OS processes, real Postgres,
// real NATS JetStream, and the simulator behind the real Anthropic SDK.

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('task flow (end to end)', () => {
  let stack: AtelierStack;
  let acmeKey: string;
  let globexKey: string;

  beforeAll(async () => {
    stack = await AtelierStack.start();
    acmeKey = await stack.mintKey('acme', ['tasks:write', 'tasks:read']);
    globexKey = await stack.mintKey('globex', ['tasks:write', 'tasks:read']);
  }, 90_000);

  afterAll(() => stack?.stop());

  const count = async (table: string) => Number((await stack.rows(`SELECT count(*) AS n FROM ${table}`))[0].n);

  it('runs research-report: plan, one investigation per question in parallel, a draft joining them all, a review', async () => {
    const goal = 'Explain the trade-offs of solid-state batteries for city buses';
    const id = await stack.submit(acmeKey, { input: { goal } }, { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` });

    const task = await stack.waitForTask(id, acmeKey);
    expect(task).toMatchObject({ status: 'completed', tenant: 'acme', workflow: 'research-report' });
    const [plan] = await stack.rows(`SELECT output FROM steps WHERE task_id = $1 AND key = 'plan'`, [id]);
    const questions: string[] = plan.output.questions;
    expect(questions.length).toBeGreaterThanOrEqual(2);
    expect(questions.length).toBeLessThanOrEqual(5);
    expect(task.steps.map((s: { key: string; kind: string; status: string }) => [s.key, s.kind, s.status])).toEqual([
      ['plan', 'research.plan', 'completed'],
      ...questions.map((_, n) => [`investigate.${n + 1}`, 'research.investigate', 'completed']),
      ['draft', 'writer.draft', 'completed'],
      ['review.1', 'writer.review', 'completed'],
    ]);
    expect(Number(task.costUsd)).toBeGreaterThan(0);

    // Each investigation answered its own question, and the document carries every finding id over.
    const investigations = await stack.rows(`SELECT input, output FROM steps WHERE task_id = $1 AND kind = 'research.investigate' ORDER BY key`, [id]);
    expect(investigations.map((step) => step.input.question)).toEqual(questions);
    const findingIds = investigations.flatMap((step) => step.output.findings.match(/\[F-[0-9a-f]{8}\]/g) as string[]);
    expect(findingIds.length).toBeGreaterThanOrEqual(questions.length);
    for (const findingId of findingIds) expect(task.result.document).toContain(findingId);
    const [review] = await stack.rows(`SELECT output FROM steps WHERE task_id = $1 AND key = 'review.1'`, [id]);
    expect(review.output).toMatchObject({ approved: true, revised: false, document: task.result.document });

    // One successful call per step (the review approved: no revision), each in the ledger.
    const calls = await stack.rows(
      `SELECT c.cost_usd::text AS cost, c.request_id, c.outcome, c.input_tokens, c.output_tokens, s.key
         FROM llm_calls c JOIN steps s ON s.id = c.step_id WHERE c.task_id = $1 ORDER BY s.key`,
      [id],
    );
    expect(calls.map((c) => c.key).sort()).toEqual(task.steps.map((s: { key: string }) => s.key).sort());
    for (const c of calls) expect(c).toMatchObject({ outcome: 'success', request_id: expect.stringMatching(/^req_/) });
    const summed = calls.reduce((sum, c) => sum.plus(c.cost), new Decimal(0));
    expect(new Decimal(task.costUsd).equals(summed)).toBe(true);

    // Every step's events in order, the task's end last, all on the caller's trace.
    const audit = await stack.rows(`SELECT seq, action, subject, trace_id, actor FROM audit_events WHERE task_id = $1 ORDER BY seq`, [id]);
    expect(audit[0]).toMatchObject({ action: 'task.submitted', actor: expect.stringMatching(/^apikey:/) });
    expect(audit.at(-1)?.action).toBe('task.completed');
    for (const step of await stack.rows(`SELECT id FROM steps WHERE task_id = $1`, [id])) {
      const actions = audit.filter((event) => event.subject === `step:${step.id}`).map((event) => event.action);
      expect(actions).toEqual(['step.queued', 'step.started', 'llm.call', 'step.completed']);
    }
    expect(new Set(audit.map((event) => event.trace_id))).toEqual(new Set([TRACE_ID]));
  }, 60_000);

  it("hides one tenant's tasks from another (404, not listed)", async () => {
    const id = await stack.submit(acmeKey, { workflow: 'brief', input: { goal: 'Tenant isolation' } });
    const foreign = await stack.call(`/v1/tasks/${id}`, { key: globexKey });
    expect(foreign.status).toBe(404);
    expect(foreign.headers.get('content-type')).toContain('application/problem+json');
    for (const path of [`/v1/tasks/${id}/events`, `/v1/tasks/${id}/cancel`]) {
      expect((await stack.call(path, { key: globexKey, method: path.endsWith('cancel') ? 'POST' : 'GET' })).status).toBe(404);
    }
    const listed = await stack.json('/v1/tasks?limit=100', { key: globexKey });
    expect(listed.items.map((t: { id: string }) => t.id)).not.toContain(id);
    const own = await stack.json('/v1/tasks?limit=100', { key: acmeKey });
    expect(own.items.map((t: { id: string }) => t.id)).toContain(id);
    // Let it finish so later "writes nothing" counts are not disturbed by its steps.
    expect((await stack.waitForTask(id, acmeKey)).status).toBe('completed');
  });

  it('pages through tasks with a cursor, newest first', async () => {
    const first = await stack.json('/v1/tasks?limit=1', { key: acmeKey });
    expect(first.items).toHaveLength(1);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await stack.json(`/v1/tasks?limit=1&cursor=${first.nextCursor}`, { key: acmeKey });
    expect(second.items).toHaveLength(1);
    expect(second.items[0].id).not.toBe(first.items[0].id);
    expect(Date.parse(second.items[0].createdAt)).toBeLessThanOrEqual(Date.parse(first.items[0].createdAt));
    const bad = await stack.call('/v1/tasks?cursor=garbage', { key: acmeKey });
    expect(bad.status).toBe(400);
  });

  it('answers 401 without a valid key and 403 without the scope', async () => {
    for (const key of [undefined, 'at_not-a-real-key-000000000000']) {
      const response = await stack.call('/v1/tasks', { key });
      expect(response.status).toBe(401);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect((await AtelierStack.body(response)).title).toBe('Unauthorized');
    }
    const readOnly = await stack.mintKey('acme', ['tasks:read']);
    const denied = await stack.call('/v1/tasks', { method: 'POST', key: readOnly, body: JSON.stringify({ input: { goal: 'x' } }) });
    expect(denied.status).toBe(403);
    const mintByTenant = await stack.call('/v1/api-keys', { method: 'POST', key: acmeKey, body: JSON.stringify({ tenant: 'acme', scopes: ['admin'] }) });
    expect(mintByTenant.status).toBe(403);
    expect((await stack.call('/v1/dead-letters', { key: acmeKey })).status).toBe(403);
    expect((await stack.call('/v1/dead-letters', { key: STACK_ADMIN_KEY })).status).toBe(200);
  });

  it('rejects a bad body with 400 problem+json naming each field, and writes nothing', async () => {
    const before = { tasks: await count('tasks'), audit: await count('audit_events') };
    const response = await stack.call('/v1/tasks', {
      method: 'POST',
      key: acmeKey,
      body: JSON.stringify({ input: {}, surprise: true, budgetUsd: '-3', workflow: 'nope' }),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const problem = await AtelierStack.body(response);
    expect(problem).toMatchObject({ status: 400, title: 'Invalid request' });
    const fields = problem.errors.map((e: { field: string }) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['input.goal', 'surprise', 'budgetUsd', 'workflow']));

    const notJson = await stack.call('/v1/tasks', { method: 'POST', key: acmeKey, body: '{"input":', headers: { 'content-type': 'application/json' } });
    expect(notJson.status).toBe(400);
    expect(notJson.headers.get('content-type')).toContain('application/problem+json');
    expect({ tasks: await count('tasks'), audit: await count('audit_events') }).toEqual(before);
  });

  it('refuses a 25,000-character goal and writes nothing', async () => {
    const before = { tasks: await count('tasks'), steps: await count('steps'), audit: await count('audit_events') };
    const response = await stack.call('/v1/tasks', { method: 'POST', key: acmeKey, body: JSON.stringify({ input: { goal: 'g'.repeat(25_000) } }) });
    expect([400, 413]).toContain(response.status);
    const problem = await AtelierStack.body(response);
    expect(problem.errors).toEqual([{ field: 'input.goal', message: expect.stringContaining('20000') }]);
    expect({ tasks: await count('tasks'), steps: await count('steps'), audit: await count('audit_events') }).toEqual(before);
  });

  it('serves OpenAPI and health without a key', async () => {
    const openapi = await stack.json('/openapi.json');
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining(['/v1/tasks', '/v1/tasks/{id}', '/v1/tasks/{id}/cancel', '/v1/tasks/{id}/events', '/v1/api-keys', '/v1/dead-letters', '/v1/dead-letters/{stepId}/replay']),
    );
    expect((await stack.call('/docs')).status).toBe(200);
    expect((await stack.call('/health/live')).status).toBe(200);
    const metrics = await (await stack.call('/metrics')).text();
    expect(metrics).toContain('http_server_requests_total');
  });
});
