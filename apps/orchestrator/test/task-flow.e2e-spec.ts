import Decimal from 'decimal.js';
import { Client } from 'pg';
import { createTestDatabase, type Platform, startPlatform, type TestDatabase } from '@atelier/testing';

// The walking skeleton, end to end: the built services as separate OS processes, real
// Postgres, real NATS JetStream, and the simulator behind the real Anthropic SDK.

const BOOTSTRAP_KEY = 'bootstrap-admin-key-for-e2e-0123456789';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('task flow (end to end)', () => {
  let db: TestDatabase;
  let sql: Client;
  let platform: Platform;
  let api: string;
  let acmeKey: string;
  let globexKey: string;

  const call = (path: string, init: RequestInit & { key?: string } = {}) =>
    fetch(`${api}${path}`, {
      ...init,
      headers: {
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.key ? { authorization: `Bearer ${init.key}` } : {}),
        ...(init.headers as Record<string, string>),
      },
    });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
  const json = async (response: Response | Promise<Response>): Promise<any> => (await response).json();
  const count = async (table: string) => Number((await sql.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);

  beforeAll(async () => {
    db = await createTestDatabase();
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    platform = await startPlatform({ databaseUrl: db.url, bootstrapKey: BOOTSTRAP_KEY });
    api = platform.api;
    acmeKey = await platform.mintKey('acme', ['tasks:write', 'tasks:read']);
    globexKey = await platform.mintKey('globex', ['tasks:write', 'tasks:read']);
  }, 90_000);

  afterAll(async () => {
    await platform?.stop();
    await sql?.end();
    await db?.drop();
  });

  async function waitForTask(id: string, key: string, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const task = await json(call(`/v1/tasks/${id}`, { key }));
      if (!['queued', 'running'].includes(task.status) || Date.now() > deadline) return task;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('runs a submitted task to completion through both agents, with its ledger and audit trail', async () => {
    const goal = 'Explain the trade-offs of solid-state batteries for city buses';
    const submitted = await call('/v1/tasks', {
      method: 'POST',
      key: acmeKey,
      headers: { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` },
      body: JSON.stringify({ input: { goal } }),
    });
    expect(submitted.status).toBe(202);
    const { id, status, links } = await json(submitted);
    expect(status).toBe('queued');
    expect(links.self).toBe(`/v1/tasks/${id}`);

    const task = await waitForTask(id, acmeKey);
    expect(task.status).toBe('completed');
    expect(task.tenant).toBe('acme');
    expect(task.steps.map((s: { kind: string; status: string }) => [s.kind, s.status])).toEqual([
      ['research.investigate', 'completed'],
      ['writer.draft', 'completed'],
    ]);
    expect(Number(task.costUsd)).toBeGreaterThan(0);

    // The document is built from the research step's output: every finding id carries over.
    const investigate = (await sql.query(`SELECT output FROM steps WHERE task_id = $1 AND key = 'investigate'`, [id])).rows[0];
    const findingIds: string[] = investigate.output.findings.match(/\[F-[0-9a-f]{8}\]/g);
    expect(findingIds.length).toBeGreaterThan(0);
    for (const findingId of findingIds) expect(task.result.document).toContain(findingId);

    const calls = (
      await sql.query(
        `SELECT c.model, c.input_tokens, c.output_tokens, c.cost_usd::text AS cost, c.request_id, c.outcome, s.key
           FROM llm_calls c JOIN steps s ON s.id = c.step_id WHERE c.task_id = $1 ORDER BY c.created_at`,
        [id],
      )
    ).rows;
    expect(calls.map((c) => c.key)).toEqual(['investigate', 'draft']);
    for (const c of calls) {
      expect(c.input_tokens).toBeGreaterThan(0);
      expect(c.output_tokens).toBeGreaterThan(0);
      expect(Number(c.cost)).toBeGreaterThan(0);
      expect(c.request_id).toMatch(/^req_/);
      expect(c.outcome).toBe('success');
    }
    const summed = (await sql.query(`SELECT sum(cost_usd)::text AS total FROM llm_calls WHERE task_id = $1`, [id])).rows[0].total;
    expect(new Decimal(task.costUsd).equals(new Decimal(summed))).toBe(true);

    const audit = (await sql.query(`SELECT action, trace_id, actor FROM audit_events WHERE task_id = $1 ORDER BY seq`, [id])).rows;
    expect(audit.map((event) => event.action)).toEqual([
      'task.submitted',
      'step.queued',
      'step.started',
      'llm.call',
      'step.completed',
      'step.queued',
      'step.started',
      'llm.call',
      'step.completed',
      'task.completed',
    ]);
    expect(new Set(audit.map((event) => event.trace_id))).toEqual(new Set([TRACE_ID]));
    expect(audit[0].actor).toMatch(/^apikey:/);
  }, 60_000);

  it("hides one tenant's tasks from another (404, not listed)", async () => {
    const { id } = await json(call('/v1/tasks', { method: 'POST', key: acmeKey, body: JSON.stringify({ input: { goal: 'Tenant isolation' } }) }));
    const foreign = await call(`/v1/tasks/${id}`, { key: globexKey });
    expect(foreign.status).toBe(404);
    expect(foreign.headers.get('content-type')).toContain('application/problem+json');
    const listed = await json(call('/v1/tasks?limit=100', { key: globexKey }));
    expect(listed.items.map((t: { id: string }) => t.id)).not.toContain(id);
    const own = await json(call('/v1/tasks?limit=100', { key: acmeKey }));
    expect(own.items.map((t: { id: string }) => t.id)).toContain(id);
    // Let it finish so later "writes nothing" counts are not disturbed by its steps.
    expect((await waitForTask(id, acmeKey)).status).toBe('completed');
  });

  it('pages through tasks with a cursor, newest first', async () => {
    const first = await json(call('/v1/tasks?limit=1', { key: acmeKey }));
    expect(first.items).toHaveLength(1);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await json(call(`/v1/tasks?limit=1&cursor=${first.nextCursor}`, { key: acmeKey }));
    expect(second.items).toHaveLength(1);
    expect(second.items[0].id).not.toBe(first.items[0].id);
    expect(Date.parse(second.items[0].createdAt)).toBeLessThanOrEqual(Date.parse(first.items[0].createdAt));
    const bad = await call('/v1/tasks?cursor=garbage', { key: acmeKey });
    expect(bad.status).toBe(400);
  });

  it('answers 401 without a valid key and 403 without the scope', async () => {
    for (const key of [undefined, 'at_not-a-real-key-000000000000']) {
      const response = await call('/v1/tasks', { key });
      expect(response.status).toBe(401);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect((await json(response)).title).toBe('Unauthorized');
    }
    const readOnly = await json(
      call('/v1/api-keys', { method: 'POST', key: BOOTSTRAP_KEY, body: JSON.stringify({ tenant: 'acme', scopes: ['tasks:read'] }) }),
    );
    const denied = await call('/v1/tasks', { method: 'POST', key: readOnly.key, body: JSON.stringify({ input: { goal: 'x' } }) });
    expect(denied.status).toBe(403);
    const mintByTenant = await call('/v1/api-keys', { method: 'POST', key: acmeKey, body: JSON.stringify({ tenant: 'acme', scopes: ['admin'] }) });
    expect(mintByTenant.status).toBe(403);
  });

  it('rejects a bad body with 400 problem+json naming each field, and writes nothing', async () => {
    const before = { tasks: await count('tasks'), audit: await count('audit_events') };
    const response = await call('/v1/tasks', {
      method: 'POST',
      key: acmeKey,
      body: JSON.stringify({ input: {}, surprise: true, budgetUsd: '-3' }),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const problem = await json(response);
    expect(problem).toMatchObject({ status: 400, title: 'Invalid request' });
    const fields = problem.errors.map((e: { field: string }) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['input.goal', 'surprise', 'budgetUsd']));

    const notJson = await call('/v1/tasks', { method: 'POST', key: acmeKey, body: '{"input":', headers: { 'content-type': 'application/json' } });
    expect(notJson.status).toBe(400);
    expect(notJson.headers.get('content-type')).toContain('application/problem+json');
    expect({ tasks: await count('tasks'), audit: await count('audit_events') }).toEqual(before);
  });

  it('refuses a 25,000-character goal and writes nothing', async () => {
    const before = { tasks: await count('tasks'), steps: await count('steps'), audit: await count('audit_events') };
    const response = await call('/v1/tasks', { method: 'POST', key: acmeKey, body: JSON.stringify({ input: { goal: 'g'.repeat(25_000) } }) });
    expect([400, 413]).toContain(response.status);
    const problem = await json(response);
    expect(problem.errors).toEqual([{ field: 'input.goal', message: expect.stringContaining('20000') }]);
    expect({ tasks: await count('tasks'), steps: await count('steps'), audit: await count('audit_events') }).toEqual(before);
  });

  it('serves OpenAPI and health without a key', async () => {
    const openapi = await json(call('/openapi.json'));
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/v1/tasks', '/v1/tasks/{id}', '/v1/api-keys']));
    expect((await call('/docs')).status).toBe(200);
    expect((await call('/health/live')).status).toBe(200);
    const metrics = await (await call('/metrics')).text();
    expect(metrics).toContain('http_server_requests_total');
  });
});
