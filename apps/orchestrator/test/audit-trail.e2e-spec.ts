import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { AtelierStack, repoRoot, STACK_ADMIN_KEY } from '@atelier/testing';

// The audit trail end to end: the built services as OS processes, connected to Postgres as
// the restricted application role; a full task run's trail read through the API and the
// `atelier` CLI; tenants kept apart; and tampering, done as a superuser behind the
// database's back, found by the server's verify and by the CLI offline from an export.

const BOOTSTRAP_KEY = STACK_ADMIN_KEY;
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const DENIAL_TRACE_ID = '5b8efff798038103d269b633813fc60c';
const CLI = join(repoRoot(), 'dist', 'apps', 'cli', 'src', 'main.js');

interface AuditEvent {
  seq: number;
  position: number | null;
  occurredAt: string;
  tenantId: string | null;
  actor: string;
  action: string;
  subject: string;
  taskId: string | null;
  traceId: string | null;
  requestId: string | null;
  data: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- asserted field by field
  prevHash: string | null;
  hash: string | null;
}

describe('audit trail (end to end)', () => {
  let stack: AtelierStack;
  /** One session as the table owner (a superuser here): tampering needs BEGIN ... COMMIT and temp tables on one connection. */
  let sql: Client;
  let api: string;
  let workDir: string;
  const keys: Record<'acme' | 'globex' | 'acmeTasksOnly', string> = { acme: '', globex: '', acmeTasksOnly: '' };
  let acmeTenantId: string;
  let taskId: string;

  const call = (path: string, key?: string, init: RequestInit = {}) =>
    fetch(`${api}${path}`, {
      ...init,
      headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...(key ? { authorization: `Bearer ${key}` } : {}), ...(init.headers as Record<string, string>) },
    });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
  const json = async (response: Response | Promise<Response>): Promise<any> => (await response).json();

  /** The built CLI as its own process, run as the file itself (its shebang and executable bit), as an operator or auditor runs it. */
  const atelier = (args: string[], key: string = BOOTSTRAP_KEY) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(CLI, args, { env: { PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`, ATELIER_API_URL: api, ATELIER_API_KEY: key } });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    });

  const waitUntilSealed = async () => {
    const deadline = Date.now() + 15_000;
    const unsealed = 'SELECT count(*) AS n FROM audit_events e WHERE NOT EXISTS (SELECT FROM audit_chain c WHERE c.seq = e.seq)';
    while (Number((await sql.query(unsealed)).rows[0].n) > 0) {
      if (Date.now() > deadline) throw new Error('events were not sealed within 15 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  async function waitForTask(id: string, key: string) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const task = await json(call(`/v1/tasks/${id}`, key));
      if (!['queued', 'running'].includes(task.status) || Date.now() > deadline) return task;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'atelier-audit-e2e-'));
    // The services connect as a login of the application role, never as the table owner.
    stack = await AtelierStack.start({ servicesAsAppRole: true, orchestratorEnv: { AUDIT_SEAL_INTERVAL_MS: '200' } });
    sql = new Client({ connectionString: stack.db.url });
    await sql.connect();
    api = stack.api;
    keys.acme = await stack.mintKey('acme', ['tasks:write', 'tasks:read', 'audit:read']);
    keys.globex = await stack.mintKey('globex', ['tasks:write', 'tasks:read', 'audit:read']);
    keys.acmeTasksOnly = await stack.mintKey('acme', ['tasks:read']);
    acmeTenantId = (await sql.query(`SELECT id FROM tenants WHERE name = 'acme'`)).rows[0].id;
  }, 90_000);

  afterAll(async () => {
    await sql?.end();
    await stack?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("records a full task run: each step's catalog events in causal order, with the request's trace id, sealed", async () => {
    const fakeKey = ['sk', 'ant', 'api03', randomBytes(12).toString('hex')].join('-');
    const password = ['hunter', '2'].join('');
    const submitted = await call('/v1/tasks', keys.acme, {
      method: 'POST',
      headers: { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01`, 'x-request-id': 'audit-e2e-submit' },
      body: JSON.stringify({ input: { goal: `Compare heat pumps for terraced houses (our key ${fakeKey} and password=${password} must not leak)` } }),
    });
    expect(submitted.status).toBe(202);
    taskId = (await json(submitted)).id;
    const task = await waitForTask(taskId, keys.acme);
    expect(task.status).toBe('completed');
    await waitUntilSealed();

    const timeline = await json(call(`/v1/tasks/${taskId}/audit`, keys.acme));
    const events = timeline.items as AuditEvent[];
    expect(timeline.nextCursor).toBeNull();
    expect(events[0]).toMatchObject({ action: 'task.submitted', actor: expect.stringMatching(/^apikey:/), requestId: 'audit-e2e-submit' });
    expect(events.at(-1)).toMatchObject({ action: 'task.completed', actor: 'service:orchestrator' });
    for (const event of events) {
      expect(event).toMatchObject({ traceId: TRACE_ID, tenantId: acmeTenantId, taskId, position: expect.any(Number), hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(event.occurredAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    }

    // Causal order, by seq (insertion) and by chain position alike: an event caused by another
    // was written in a later transaction, so it must come after it in both.
    const one = (action: string, subject?: string) => {
      const found = events.filter((event) => event.action === action && (subject === undefined || event.subject === subject));
      expect([action, subject, found.length]).toEqual([action, subject, 1]);
      return found[0]!;
    };
    const expectBefore = (earlier: AuditEvent, later: AuditEvent) => {
      const label = `${earlier.action} ${earlier.subject} before ${later.action} ${later.subject}`;
      expect([label, earlier.seq < later.seq, earlier.position! < later.position!]).toEqual([label, true, true]);
    };
    const steps = task.steps as { id: string; kind: string; agent: string }[];
    const stepEvent = (kind: string, action: string) => steps.filter((step) => step.kind === kind).map((step) => one(action, `step:${step.id}`));
    const completed = one('task.completed');
    for (const event of events) if (event !== completed) expectBefore(event, completed);
    const [planDone] = stepEvent('research.plan', 'step.completed');
    const planned = one('task.planned');
    expectBefore(planDone!, planned);
    const investigations = steps.filter((step) => step.kind === 'research.investigate');
    expect(planned.data).toEqual({ planStep: 'plan', count: investigations.length, steps: expect.any(Array) });
    expect(planned.data['steps'].map((step: { key: string }) => step.key).sort()).toEqual(investigations.map((_, i) => `investigate.${i + 1}`));
    for (const queued of stepEvent('research.investigate', 'step.queued')) expectBefore(planned, queued);
    const [draftQueued] = stepEvent('writer.draft', 'step.queued');
    for (const investigated of stepEvent('research.investigate', 'step.completed')) expectBefore(investigated, draftQueued!);

    // Each step: queued → started → one or more model calls → completed, by the agent that ran it.
    expect(steps.length).toBeGreaterThanOrEqual(4);
    for (const step of steps) {
      const own = events.filter((event) => event.subject === `step:${step.id}`);
      const actions = own.map((event) => event.action);
      expect(actions[0]).toBe('step.queued');
      expect(actions[1]).toBe('step.started');
      expect(actions.at(-1)).toBe('step.completed');
      expect(actions.slice(2, -1).length).toBeGreaterThan(0);
      expect(new Set(actions.slice(2, -1))).toEqual(new Set(['llm.call']));
      for (let i = 1; i < own.length; i++) expectBefore(own[i - 1]!, own[i]!);
      expect(own.slice(1).every((event) => event.actor === `service:${step.agent}-agent`)).toBe(true);
      const llmCall = own.find((event) => event.action === 'llm.call')!;
      expect(llmCall.requestId).toMatch(/^req_/);
      expect(llmCall.data).toMatchObject({
        model: expect.any(String),
        inputTokens: expect.any(Number),
        outputTokens: expect.any(Number),
        costUsd: expect.stringMatching(/^\d+(\.\d+)?$/),
        latencyMs: expect.any(Number),
        attempt: 1,
        outcome: 'success',
        prompt: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/), length: expect.any(Number), content: expect.any(String) },
        response: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/), length: expect.any(Number), content: expect.any(String) },
      });
      expect(own.at(-1)!.data['output']).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    }

    // The input guardrail masked both credentials before the task was stored or planned:
    // neither is in the task, its steps (what the models were sent), nor any audit event.
    expect(events[0]!.data['goal'].content).toContain('Compare heat pumps');
    const flagged = one('guardrail.flagged');
    expect(flagged).toMatchObject({
      actor: 'service:orchestrator',
      subject: `task:${taskId}`,
      requestId: 'audit-e2e-submit',
      data: { rule: 'input-credentials', decision: 'masked', findings: [{ path: 'input.goal', kinds: ['anthropic-api-key', 'password'] }] },
    });
    expect(task.input.goal).toContain('[REDACTED]');
    const stored = (await sql.query(`SELECT t.input::text || coalesce(t.metadata::text, '') || coalesce(string_agg(s.input::text, ''), '') AS text FROM tasks t JOIN steps s ON s.task_id = t.id WHERE t.id = $1 GROUP BY t.id`, [taskId])).rows[0].text;
    const everything = await (await call('/v1/audit/export', BOOTSTRAP_KEY)).text();
    for (const text of [JSON.stringify(task), stored, everything]) {
      expect(text).not.toContain(fakeKey);
      expect(text).not.toContain(password);
      expect(text).toContain('[REDACTED]');
    }

    // The CLI reads the same timeline.
    const cli = await atelier(['audit', 'show', '--task', taskId, '--json'], keys.acme);
    expect(cli.code).toBe(0);
    expect(cli.stdout.trim().split('\n').map((line) => JSON.parse(line).seq)).toEqual(events.map((event) => event.seq));
  }, 60_000);

  it('runs tasks from the CLI: submit --watch, get, list', async () => {
    const submitted = await atelier(['tasks', 'submit', 'Summarise the state of grid batteries', '--watch', '--interval', '200'], keys.acme);
    expect(submitted.stderr).toBe('');
    expect(submitted.code).toBe(0);
    const id = /^task ([0-9a-f-]{36}) queued$/m.exec(submitted.stdout)?.[1];
    expect(id).toBeDefined();
    expect(submitted.stdout).toMatch(/task\s+completed/);
    const got = await atelier(['tasks', 'get', id!, '--json'], keys.acme);
    expect(JSON.parse(got.stdout)).toMatchObject({ id, status: 'completed' });
    const listed = await atelier(['tasks', 'list', '--status', 'completed', '--json'], keys.acme);
    expect(listed.stdout.trim().split('\n').map((line) => JSON.parse(line).id)).toContain(id);
    const foreign = await atelier(['tasks', 'get', id!], keys.globex);
    expect(foreign).toMatchObject({ code: 1, stderr: expect.stringContaining('404 Not found') });
  }, 60_000);

  it("keeps tenants apart: another tenant's events are 404, absent from lists, withheld in exports", async () => {
    await waitUntilSealed();
    const acmeEvent = (await json(call(`/v1/tasks/${taskId}/audit`, keys.acme))).items[0] as AuditEvent;
    expect((await call(`/v1/tasks/${taskId}/audit`, keys.globex)).status).toBe(404);
    expect((await call(`/v1/audit/${acmeEvent.seq}`, keys.globex)).status).toBe(404);
    expect((await json(call(`/v1/audit?task=${taskId}`, keys.globex))).items).toEqual([]);
    const globexView = (await json(call('/v1/audit?limit=500', keys.globex))).items as AuditEvent[];
    expect(globexView.length).toBeGreaterThan(0);
    expect(globexView.every((event) => event.tenantId !== acmeTenantId)).toBe(true);
    expect((await json(call(`/v1/audit/${acmeEvent.seq}`, BOOTSTRAP_KEY))).subject).toBe(acmeEvent.subject);

    // A key without audit:read is refused (and the refusal itself is audited, with the request's trace).
    const denied = await call(`/v1/tasks/${taskId}/audit`, keys.acmeTasksOnly, { headers: { traceparent: `00-${DENIAL_TRACE_ID}-00f067aa0ba902b7-01` } });
    expect(denied.status).toBe(403);
    await waitUntilSealed();
    const refusals = (await json(call('/v1/audit?action=access.denied', keys.acme))).items as AuditEvent[];
    expect(refusals[0]).toMatchObject({
      subject: 'route:GET /v1/tasks/:id/audit',
      tenantId: acmeTenantId,
      traceId: DENIAL_TRACE_ID,
      requestId: expect.any(String),
      data: { status: 403, requiredScope: 'audit:read', suppressed: 0 },
    });
    const listed = await atelier(['audit', 'list', '--action', 'access.denied', '--json'], keys.acme);
    expect(JSON.parse(listed.stdout.trim().split('\n')[0]!)).toMatchObject({ seq: refusals[0]!.seq, action: 'access.denied' });
    expect((await atelier(['audit', 'show', String(refusals[0]!.seq)], keys.globex)).stderr).toContain('404 Not found');

    // Globex's export carries acme's positions as links only, and still verifies offline.
    const file = join(workDir, 'globex.ndjson');
    expect((await atelier(['audit', 'export', '--output', file], keys.globex)).code).toBe(0);
    const lines = (await readFile(file, 'utf8')).trim().split('\n').map((line) => JSON.parse(line));
    const acmeLine = lines.find((line) => line.position === acmeEvent.position);
    expect(acmeLine).toEqual({ position: acmeEvent.position, prevHash: acmeEvent.prevHash, hash: acmeEvent.hash, withheld: true });
    expect(lines.filter((line) => !line.withheld).every((line) => line.tenantId !== acmeTenantId)).toBe(true);
    const verified = await atelier(['audit', 'verify', '--file', file, '--json'], keys.globex);
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, checked: lines.length, withheld: expect.any(Number) });
    expect(JSON.parse(verified.stdout).withheld).toBeGreaterThan(0);

    const csv = (await (await call('/v1/audit/export?format=csv', keys.globex)).text()).trim().split('\r\n');
    expect(csv[0]).toBe('position,seq,occurred_at,tenant_id,actor,action,subject,task_id,trace_id,request_id,data,prev_hash,hash');
    expect(csv.length).toBe(lines.filter((line) => !line.withheld).length + 1);
  }, 30_000);

  it('revokes a key (DELETE /v1/api-keys/{id}): 401 from the next request, apikey.revoked in the trail, safe to repeat', async () => {
    const minted = await json(call('/v1/api-keys', BOOTSTRAP_KEY, { method: 'POST', body: JSON.stringify({ tenant: 'acme', scopes: ['tasks:read'], name: 'to-revoke' }) }));
    expect((await call('/v1/tasks', minted.key)).status).toBe(200);
    expect((await call(`/v1/api-keys/${minted.id}`, keys.acme, { method: 'DELETE' })).status).toBe(403);
    const revoked = await call(`/v1/api-keys/${minted.id}`, BOOTSTRAP_KEY, {
      method: 'DELETE',
      headers: { traceparent: `00-${DENIAL_TRACE_ID}-00f067aa0ba902b7-01`, 'x-request-id': 'audit-e2e-revoke' },
    });
    expect(revoked.status).toBe(204);
    expect((await call('/v1/tasks', minted.key)).status).toBe(401);
    expect((await call(`/v1/api-keys/${minted.id}`, BOOTSTRAP_KEY, { method: 'DELETE' })).status).toBe(204);
    expect((await call('/v1/api-keys/00000000-0000-4000-8000-000000000000', BOOTSTRAP_KEY, { method: 'DELETE' })).status).toBe(404);
    const badId = await call('/v1/api-keys/not-a-uuid', BOOTSTRAP_KEY, { method: 'DELETE' });
    expect(badId.status).toBe(400);
    expect(badId.headers.get('content-type')).toContain('application/problem+json');
    expect((await json(badId)).errors).toEqual([{ field: 'id', message: 'must be an API key id (UUID)' }]);

    await waitUntilSealed();
    const revocations = (await json(call(`/v1/audit?action=apikey.revoked`, keys.acme))).items as AuditEvent[];
    expect(revocations).toHaveLength(1);
    expect(revocations[0]).toMatchObject({
      subject: `apikey:${minted.id}`,
      tenantId: acmeTenantId,
      actor: expect.stringMatching(/^apikey:/),
      requestId: 'audit-e2e-revoke',
      traceId: DENIAL_TRACE_ID,
      data: { prefix: minted.key.slice(0, 11), name: 'to-revoke', scopes: ['tasks:read'] },
    });
    // The revoked key's later use is on its tenant's record, as that key.
    const used = ((await json(call('/v1/audit?action=access.denied', keys.acme))).items as AuditEvent[]).filter((event) => event.actor === `apikey:${minted.id}`);
    expect(used).toHaveLength(1);
    expect(used[0]).toMatchObject({ subject: 'route:GET /v1/tasks', data: { status: 401, reason: 'revoked key' } });
  }, 30_000);

  it('records refused requests without becoming a write flood: unknown keys (401) sampled, probes of another tenant (404) for admins', async () => {
    // Forty requests with one unknown key of our format: one event, its prefix only, then silence for the window.
    const unknownKey = `at_${randomBytes(32).toString('base64url')}`;
    const traced = { headers: { traceparent: `00-${DENIAL_TRACE_ID}-00f067aa0ba902b7-01` } };
    const statuses = await Promise.all(Array.from({ length: 40 }, () => call('/v1/tasks', unknownKey, traced).then((response) => response.status)));
    expect(new Set(statuses)).toEqual(new Set([401]));
    // Something that is not a key of ours is never recorded, not even in part.
    const notOurs = ['password', randomBytes(6).toString('hex')].join('-');
    expect((await call('/v1/tasks', notOurs)).status).toBe(401);

    // A fresh globex key asks for acme's task (a probe), and for an id nobody has (not a probe).
    const prober = await json(call('/v1/api-keys', BOOTSTRAP_KEY, { method: 'POST', body: JSON.stringify({ tenant: 'globex', scopes: ['tasks:read', 'audit:read'] }) }));
    expect((await call(`/v1/tasks/${taskId}`, prober.key, traced)).status).toBe(404);
    expect((await call(`/v1/tasks/${randomUUID()}`, prober.key)).status).toBe(404);

    await waitUntilSealed();
    const denials = (await json(call('/v1/audit?action=access.denied&limit=500', BOOTSTRAP_KEY))).items as AuditEvent[];
    const unknown = denials.filter((event) => event.data['keyPrefix'] === unknownKey.slice(0, 11));
    expect(unknown).toHaveLength(1);
    expect(unknown[0]).toMatchObject({
      actor: 'anonymous',
      tenantId: null,
      traceId: DENIAL_TRACE_ID,
      subject: 'route:GET /v1/tasks',
      data: { status: 401, reason: 'unknown key', suppressed: 0, clientIp: expect.any(String) },
    });
    const trail = JSON.stringify(denials);
    expect(trail).not.toContain(unknownKey);
    expect(trail).not.toContain(notOurs);

    const probes = denials.filter((event) => event.actor === `apikey:${prober.id}`);
    expect(probes).toHaveLength(1);
    expect(probes[0]).toMatchObject({
      tenantId: null,
      traceId: DENIAL_TRACE_ID,
      subject: 'route:GET /v1/tasks/:id',
      data: { status: 404, resource: `task:${taskId}`, ownerTenantId: acmeTenantId },
    });
    // The prober's own trail does not show it: that would tell it the id exists.
    const proberView = (await json(call('/v1/audit?action=access.denied&limit=500', prober.key))).items as AuditEvent[];
    expect(proberView.filter((event) => event.data['status'] === 404)).toEqual([]);
  }, 30_000);

  it('answers bad queries with 400 problem+json naming the field, unknown ids with 404', async () => {
    for (const [path, field] of [
      ['/v1/audit?action=task.exploded', 'action'],
      ['/v1/audit?limit=0', 'limit'],
      ['/v1/audit?from=yesterday', 'from'],
      ['/v1/audit?from=2026-11-23T10:00:00Z&to=2026-11-22T10:00:00Z', 'to'],
      ['/v1/audit?cursor=garbage', 'cursor'],
      ['/v1/audit?surprise=1', 'surprise'],
      ['/v1/audit/export?format=xml', 'format'],
      ['/v1/audit/verify?from=5&to=2', 'to'],
      ['/v1/audit/verify?head=not-a-hash', 'head'],
    ] as const) {
      const response = await call(path, keys.acme);
      expect([path, response.status]).toEqual([path, 400]);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect((await json(response)).errors.map((error: { field: string }) => error.field)).toContain(field);
    }
    for (const path of ['/v1/audit/abc', '/v1/audit/999999999', '/v1/tasks/not-a-uuid/audit', '/v1/tasks/00000000-0000-4000-8000-000000000000/audit']) {
      expect([path, (await call(path, keys.acme)).status]).toEqual([path, 404]);
    }
  });

  it('documents the audit routes in OpenAPI and reports the seal lag metric', async () => {
    const openapi = await json(call('/openapi.json'));
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining(['/v1/audit', '/v1/audit/head', '/v1/audit/verify', '/v1/audit/export', '/v1/audit/{seq}', '/v1/tasks/{id}/audit', '/v1/api-keys/{id}']),
    );
    expect(Object.keys(openapi.paths['/v1/api-keys/{id}'].delete.responses).sort()).toEqual(['204', '400', '404']);
    const metrics = await (await call('/metrics')).text();
    expect(metrics).toMatch(/^atelier_audit_seal_lag_seconds\{service="orchestrator"\} \d/m);
    expect(metrics).toMatch(/^atelier_audit_sealed_events_total\{service="orchestrator"\} [1-9]/m);
    expect(metrics).toMatch(/^atelier_audit_seal_delay_seconds_count\{service="orchestrator"\} [1-9]/m);
    expect(metrics).toMatch(/^atelier_audit_seal_failures_total\{reason="unhashable_event",service="orchestrator"\} 0/m);
  });

  it('finds every kind of tampering, on the server and offline from an export, at the first bad position', async () => {
    await waitUntilSealed();
    const head = (await atelier(['audit', 'head'])).stdout.trim();
    const [headPosition] = head.split(':').map(Number) as [number];
    expect(headPosition).toBeGreaterThan(12);
    const intact = join(workDir, 'intact.ndjson');
    expect((await atelier(['audit', 'export', '--output', intact])).code).toBe(0);
    expect(await atelier(['audit', 'verify', '--file', intact, '--head', head])).toMatchObject({ code: 0, stdout: expect.stringContaining('OK:') });
    expect(await json(call('/v1/audit/verify', BOOTSTRAP_KEY))).toMatchObject({ ok: true, checked: headPosition });
    expect((await atelier(['audit', 'verify'])).stdout).toContain(`OK: server: ${headPosition} chain positions verified (positions 1-${headPosition})`);

    /** Behind the database's back: a superuser with triggers switched off for the transaction. */
    const asSuperuser = async (statements: string) => {
      await sql.query(`BEGIN; SET LOCAL session_replication_role = replica; ${statements}; COMMIT;`);
    };
    const expectFound = async (name: string, position: number, reason: RegExp, { withoutHead = true } = {}) => {
      const server = await json(call(`/v1/audit/verify?head=${head}`, BOOTSTRAP_KEY));
      expect([name, server]).toEqual([name, expect.objectContaining({ ok: false, firstBadPosition: position, reason: expect.stringMatching(reason) })]);
      if (withoutHead) expect((await json(call('/v1/audit/verify', BOOTSTRAP_KEY))).firstBadPosition).toBe(position);
      const file = join(workDir, `${name}.ndjson`);
      expect((await atelier(['audit', 'export', '--output', file])).code).toBe(0);
      const offline = await atelier(['audit', 'verify', '--file', file, '--head', head]);
      expect([name, offline.code, offline.stdout]).toEqual([name, 3, expect.stringContaining(`first bad position ${position}:`)]);
    };
    const expectIntactAgain = async () => expect(await json(call(`/v1/audit/verify?head=${head}`, BOOTSTRAP_KEY))).toMatchObject({ ok: true });

    // A head anchored before the range asked for is checked against the stored hash at its position.
    const early = (await readFile(intact, 'utf8')).split('\n').map((line) => JSON.parse(line || 'null')).find((line) => line?.position === 5);
    expect(await json(call(`/v1/audit/verify?from=10&head=5:${early.hash}`, BOOTSTRAP_KEY))).toMatchObject({ ok: true, from: 10, to: headPosition });
    expect(await json(call(`/v1/audit/verify?from=10&head=5:${early.prevHash}`, BOOTSTRAP_KEY))).toMatchObject({ ok: false, firstBadPosition: 5 });

    // The events and their links (audit_chain) are kept apart: tampering with either shows.
    const middle = Math.floor(headPosition / 2);
    const kept = `(1, ${middle}, ${middle + 1}, ${headPosition - 1}, ${headPosition})`;
    await sql.query(`CREATE TEMP TABLE saved_links AS SELECT * FROM audit_chain WHERE chain_pos IN ${kept}`);
    await sql.query(`CREATE TEMP TABLE saved AS SELECT * FROM audit_events WHERE seq IN (SELECT seq FROM saved_links)`);
    const seqAt = (position: number) => `(SELECT seq FROM saved_links WHERE chain_pos = ${position})`;
    const restoreEvent = (position: number) => asSuperuser(`INSERT INTO audit_events SELECT * FROM saved WHERE seq = ${seqAt(position)}`);
    const restoreLink = (position: number) => asSuperuser(`INSERT INTO audit_chain SELECT * FROM saved_links WHERE chain_pos = ${position}`);

    await asSuperuser(`UPDATE audit_events SET data = data || '{"costUsd": "0.0001"}' WHERE seq = ${seqAt(middle)}`);
    await expectFound('edited', middle, /content was altered/);
    await asSuperuser(`UPDATE audit_events e SET data = s.data FROM saved s WHERE e.seq = s.seq`);
    await expectIntactAgain();

    await asSuperuser(`DELETE FROM audit_events WHERE seq = ${seqAt(middle)}`);
    await expectFound('deleted', middle, /missing/);
    await restoreEvent(middle);
    await expectIntactAgain();

    // The link gone, the event stays (shown unsealed); the sealer does not seal it again,
    // since it continues after the head.
    await asSuperuser(`DELETE FROM audit_chain WHERE chain_pos = ${middle}`);
    await expectFound('link-deleted', middle, /missing/);
    await restoreLink(middle);
    await expectIntactAgain();

    await asSuperuser(`UPDATE audit_chain SET hash = repeat('e', 64) WHERE chain_pos = ${middle}`);
    await expectFound('link-edited', middle, /content was altered/);
    await asSuperuser(`UPDATE audit_chain c SET hash = s.hash FROM saved_links s WHERE c.chain_pos = s.chain_pos`);
    await expectIntactAgain();

    const swap = `UPDATE audit_events e SET actor = o.actor, action = o.action, subject = o.subject, data = o.data, tenant_id = o.tenant_id,
                         task_id = o.task_id, trace_id = o.trace_id, request_id = o.request_id, occurred_at = o.occurred_at
                    FROM saved o WHERE e.seq IN (${seqAt(middle)}, ${seqAt(middle + 1)}) AND o.seq = ${seqAt(middle)} + ${seqAt(middle + 1)} - e.seq`;
    await asSuperuser(swap);
    await expectFound('swapped', middle, /altered/);
    await asSuperuser(`UPDATE audit_events e SET actor = s.actor, action = s.action, subject = s.subject, data = s.data, tenant_id = s.tenant_id,
                              task_id = s.task_id, trace_id = s.trace_id, request_id = s.request_id, occurred_at = s.occurred_at
                         FROM saved s WHERE e.seq = s.seq`);
    await expectIntactAgain();

    // Reordered through the links: two positions point at each other's events (seq is unique, hence three steps).
    const relink = (a: number, b: number) =>
      asSuperuser(`UPDATE audit_chain SET seq = -1 WHERE chain_pos = ${middle};
                   UPDATE audit_chain SET seq = ${seqAt(a)} WHERE chain_pos = ${middle + 1};
                   UPDATE audit_chain SET seq = ${seqAt(b)} WHERE chain_pos = ${middle}`);
    await relink(middle, middle + 1);
    await expectFound('relinked', middle, /altered/);
    await relink(middle + 1, middle);
    await expectIntactAgain();

    // The beginning cut off: the export then starts at position 2, which offline verify refuses too.
    await asSuperuser(`DELETE FROM audit_events WHERE seq = ${seqAt(1)}`);
    await expectFound('first-deleted', 1, /position 1 is missing/);
    await restoreEvent(1);
    await expectIntactAgain();

    await asSuperuser(`DELETE FROM audit_events WHERE seq IN (${seqAt(headPosition - 1)}, ${seqAt(headPosition)});
                       DELETE FROM audit_chain WHERE chain_pos >= ${headPosition - 1}`);
    // Without the earlier head the shortened chain is self-consistent; with it, the cut shows.
    expect(await json(call('/v1/audit/verify', BOOTSTRAP_KEY))).toMatchObject({ ok: true, checked: headPosition - 2 });
    await expectFound('truncated', headPosition - 1, /before the anchored head/, { withoutHead: false });
    for (const position of [headPosition - 1, headPosition]) await restoreEvent(position);
    await asSuperuser(`INSERT INTO audit_chain SELECT * FROM saved_links WHERE chain_pos >= ${headPosition - 1}`);
    await expectIntactAgain();
  }, 60_000);
});
