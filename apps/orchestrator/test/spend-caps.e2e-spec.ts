import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Decimal from 'decimal.js';
import { Client } from 'pg';
import { loadModelRoutes, loadPricing } from '@atelier/llm';
import { createTestDatabase, startLlmSimulator, startNatsServer, startService, type ServiceProcess, type TestDatabase } from '@atelier/testing';
import { signAlertBody } from '../src/budgets/alert-webhook-delivery';
import { apiClient, type ApiClient } from './support/api-client';
import { waitFor } from './support/wait-for';

// Spend caps end to end: the built services as OS processes, real Postgres and JetStream,
// the simulator behind the real SDK, and a webhook receiver for budget alerts.

const BOOTSTRAP_KEY = 'bootstrap-admin-key-for-spend-e2e-0123';
const WEBHOOK_SECRET = 'webhook-secret-for-e2e-tests';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

/** Answers 500 to the first delivery of each alert and 200 afterwards, so every alert is retried once. */
async function startWebhookReceiver(): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const seen = new Set<string>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const delivery = String(request.headers['x-atelier-delivery']);
      const status = seen.has(delivery) ? 200 : 500;
      seen.add(delivery);
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hooks/budget`, received, server };
}

describe('spend caps (end to end)', () => {
  let db: TestDatabase;
  let sql: Client;
  let nats: Awaited<ReturnType<typeof startNatsServer>>;
  let simulator: Awaited<ReturnType<typeof startLlmSimulator>>;
  let webhook: Awaited<ReturnType<typeof startWebhookReceiver>>;
  const services: ServiceProcess[] = [];
  let api: ApiClient;
  let acmeKey: string;
  let globexKey: string;
  const pricing = loadPricing();
  const routes = loadModelRoutes(pricing);
  // The services' test clock (ATELIER_TEST_CLOCK_FILE): an offset in ms from real time.
  const clockDir = mkdtempSync(join(tmpdir(), 'atelier-clock-'));
  const clockFile = join(clockDir, 'offset-ms');
  writeFileSync(clockFile, '0');

  beforeAll(async () => {
    [db, nats, simulator, webhook] = await Promise.all([createTestDatabase('atelier_spend_e2e'), startNatsServer(), startLlmSimulator(), startWebhookReceiver()]);
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    const common = { DATABASE_URL: db.url, NATS_URL: nats.url, SHUTDOWN_GRACE_MS: '2000', ATELIER_TEST_CLOCK_FILE: clockFile };
    services.push(
      await startService('orchestrator', {
        ...common,
        ATELIER_BOOTSTRAP_API_KEY: BOOTSTRAP_KEY,
        ATELIER_GLOBAL_BUDGET_USD: '100',
        ATELIER_DEFAULT_TENANT_BUDGET_USD: '5',
        ATELIER_ALERT_WEBHOOK_URL: webhook.url,
        ATELIER_ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET,
        SPEND_SWEEP_INTERVAL_MS: '500',
      }),
    );
    api = apiClient(services[0]!.url);
    const agentEnv = { ...common, LLM_MODE: 'simulator', ANTHROPIC_BASE_URL: simulator.url };
    services.push(...(await Promise.all([startService('research-agent', agentEnv), startService('writer-agent', agentEnv)])));
    acmeKey = await api.mintKey(BOOTSTRAP_KEY, 'acme', ['tasks:write', 'tasks:read']);
    globexKey = await api.mintKey(BOOTSTRAP_KEY, 'globex', ['tasks:write', 'tasks:read']);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(services.map((service) => service.stop()));
    await sql?.end();
    await Promise.all([simulator?.stop(), nats?.stop(), new Promise((resolve) => webhook?.server.close(resolve))]);
    await db?.drop();
    rmSync(clockDir, { recursive: true, force: true });
  });

  const submit = async (key: string, body: Record<string, unknown>) => {
    const response = await api.call('/v1/tasks', { method: 'POST', key, body: JSON.stringify(body) });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };
  const ledgerTotal = async (where: string, value: string) =>
    new Decimal((await sql.query(`SELECT COALESCE(sum(cost_usd), 0)::text AS total FROM llm_calls WHERE ${where} = $1`, [value])).rows[0].total);
  const fieldsOf = async (response: Response) => ((await response.json()) as { errors: { field: string }[] }).errors.map((error) => error.field);
  const auditOf = async (taskId: string) => (await sql.query(`SELECT action, data FROM audit_events WHERE task_id = $1 ORDER BY seq`, [taskId])).rows;

  it('ends a task whose budget cannot cover its workflow budget_exceeded, keeping partial results, with budget.denied', async () => {
    // Enough for the research step's worst case, never for the writer's (its max_tokens alone costs more).
    const research = routes('research.investigate');
    const writer = routes('writer.draft');
    const budgetUsd = pricing.worstCaseCost(research.model, { promptTokens: 1_000, maxTokens: research.maxTokens, cacheTtl: '5m' }).toFixed(6);
    expect(pricing.worstCaseCost(writer.model, { promptTokens: 0, maxTokens: writer.maxTokens }).greaterThan(budgetUsd)).toBe(true);

    // The two-step workflow (investigate → draft): one research call, then the writer's.
    const id = await submit(acmeKey, { workflow: 'brief', input: { goal: `Heat pumps in old houses ${randomUUID()}` }, budgetUsd });
    const task = await api.waitForTask(id, acmeKey);
    expect(task.status).toBe('budget_exceeded');
    expect(task.error).toMatchObject({ code: 'BUDGET_EXCEEDED', step: expect.any(String), message: expect.stringContaining('the task total budget has a limit of $') });
    expect(task.error.message).toMatch(/this model call needs up to \$[\d.]+/);
    expect(task.result.partial).toBe(true);
    const completed = task.steps.filter((step: { status: string }) => step.status === 'completed');
    expect(completed.length).toBeGreaterThan(0);
    if (completed.some((step: { kind: string }) => step.kind === 'research.investigate')) expect(task.result.findings[0]).toContain('## Findings');
    expect(task.steps.some((step: { status: string }) => ['queued', 'running'].includes(step.status))).toBe(false);

    const audit = await auditOf(id);
    const denied = audit.find((event) => event.action === 'budget.denied');
    expect(denied?.data).toMatchObject({ neededUsd: expect.any(String), budgets: [expect.objectContaining({ scope: 'task', limitUsd: new Decimal(budgetUsd).toFixed() })] });
    expect(audit.find((event) => event.action === 'task.failed')?.data).toMatchObject({ status: 'budget_exceeded', code: 'BUDGET_EXCEEDED' });

    // The cap held and every cent is in the ledger.
    const [budget] = (await api.json(`/v1/budgets?taskId=${id}`, { key: acmeKey })).items;
    expect(budget).toMatchObject({ scope: 'task', period: 'total', limitUsd: new Decimal(budgetUsd).toFixed(), reservedUsd: '0', tenant: 'acme', taskId: id });
    expect(new Decimal(budget.spentUsd).equals(await ledgerTotal('task_id', id))).toBe(true);
    expect(new Decimal(budget.spentUsd).lessThanOrEqualTo(budgetUsd)).toBe(true);
    expect(new Decimal(task.costUsd).equals(budget.spentUsd)).toBe(true);
  }, 40_000);

  it('refuses a call over the tenant\'s filled daily cap, grants the same call after 00:00 UTC (test clock), and alerts through the signed webhook', async () => {
    // Every service reads the time through the same test clock file: the test moves them all.
    const noonUtc = (daysFromToday: number) => Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + daysFromToday, 12);
    const day = (daysFromToday: number) => new Date(noonUtc(daysFromToday)).toISOString().slice(0, 10);
    const setClock = (at: number) => writeFileSync(clockFile, String(at - Date.now()));
    // Two past days, so the ledger rows still fall in the usage reports' default 30 days.
    const [today, tomorrow] = [-3, -2];
    setClock(noonUtc(today));
    try {
      const cappedKey = await api.mintKey(BOOTSTRAP_KEY, 'capped', ['tasks:write', 'tasks:read']);
      const put = (limitUsd: string) =>
        api.call('/v1/budgets', { method: 'PUT', key: BOOTSTRAP_KEY, body: JSON.stringify({ scope: 'tenant', tenant: 'capped', period: 'day', limitUsd, alertThresholds: [5, 50] }) });
      const created = await put('1');
      expect(created.status).toBe(201);
      const { id: budgetId } = (await created.json()) as { id: string };
      const tenantBudget = async () => (await api.json('/v1/budgets?scope=tenant', { key: cappedKey })).items[0];
      expect(await tenantBudget()).toMatchObject({ id: budgetId, windowStart: `${day(today)}T00:00:00.000Z`, spentUsd: '0' });

      // Fill the day: spend until the brief workflow's two calls fit with room to spare,
      // then set the cap to exactly what is spent. Nothing is held meanwhile.
      const research = routes('research.investigate');
      const writer = routes('writer.draft');
      const enough = pricing
        .worstCaseCost(research.model, { promptTokens: 8_000, maxTokens: research.maxTokens, cacheTtl: '1h' })
        .plus(pricing.worstCaseCost(writer.model, { promptTokens: 8_000, maxTokens: writer.maxTokens, cacheTtl: '1h' }));
      for (let round = 0; new Decimal((await tenantBudget()).spentUsd).lessThan(enough); round++) {
        expect(round).toBeLessThan(10);
        const ids = await Promise.all([1, 2, 3].map((n) => submit(cappedKey, { input: { goal: `District heating, part ${round}.${n} ${randomUUID()}` } })));
        for (const id of ids) expect((await api.waitForTask(id, cappedKey)).status).toBe('completed');
      }
      const filled = await tenantBudget();
      expect(filled).toMatchObject({ reservedUsd: '0', windowStart: `${day(today)}T00:00:00.000Z` });
      const tenantId = (await sql.query(`SELECT id FROM tenants WHERE name = 'capped'`)).rows[0].id;
      expect(new Decimal(filled.spentUsd).equals(await ledgerTotal('tenant_id', tenantId))).toBe(true);
      expect((await put(filled.spentUsd)).status).toBe(200);

      // A specific call: the brief workflow's first, sequential, with no task budget and no
      // cached answer. Refused by the tenant's daily cap alone, which is spent to the cent.
      const sameCall = { workflow: 'brief', input: { goal: `Heat networks for a small town ${randomUUID()}` }, responseCache: false };
      const refused = await api.waitForTask(await submit(cappedKey, sameCall), cappedKey);
      expect(refused.status).toBe('budget_exceeded');
      expect(refused.error.message).toContain(`the tenant daily budget has a limit of $${filled.spentUsd} with $${filled.spentUsd} spent and $0 reserved ($0 available)`);
      expect(refused.steps.map((step: { kind: string; status: string }) => [step.kind, step.status])).toEqual([['research.investigate', 'failed']]);
      const denial = (await auditOf(refused.id)).find((event) => event.action === 'budget.denied');
      expect(denial?.data.budgets).toEqual([expect.objectContaining({ id: budgetId, scope: 'tenant', period: 'day', limitUsd: filled.spentUsd, spentUsd: filled.spentUsd, reservedUsd: '0' })]);

      // Housekeeping raises the day's alerts (every SPEND_SWEEP_INTERVAL_MS) while it is that day.
      const alertsOf = async () =>
        (await sql.query(`SELECT threshold, window_start, state FROM budget_alerts WHERE budget_id = $1 ORDER BY window_start, threshold`, [budgetId])).rows;
      await waitFor("the first day's alerts (5 %, and 50 % once the cap came down to the spend)", alertsOf, (rows) => rows.length === 2);

      // 00:00 UTC passes: the same call, same cap, a new day.
      setClock(noonUtc(tomorrow));
      const granted = await api.waitForTask(await submit(cappedKey, sameCall), cappedKey);
      expect(granted.status).toBe('completed');
      expect(granted.steps.every((step: { status: string }) => step.status === 'completed')).toBe(true);
      expect((await auditOf(granted.id)).map((event) => event.action)).not.toContain('budget.denied');
      const rolled = await tenantBudget();
      expect(rolled).toMatchObject({ limitUsd: filled.spentUsd, windowStart: `${day(tomorrow)}T00:00:00.000Z`, reservedUsd: '0' });
      expect(new Decimal(rolled.spentUsd).equals(await ledgerTotal('task_id', granted.id))).toBe(true);
      const calls = (await sql.query(`SELECT created_at FROM llm_calls WHERE task_id = $1`, [granted.id])).rows;
      expect(calls.length).toBeGreaterThan(0);
      expect(calls.every((call) => call.created_at.toISOString().startsWith(day(tomorrow)))).toBe(true);

      // Alerts, once per window: 5 % and (once the cap came down to the spend) 50 % of the
      // first day, and of the next day whichever its spend reached.
      const reachedTomorrow = [5, 50].filter((threshold) => new Decimal(rolled.spentUsd).times(100).greaterThanOrEqualTo(new Decimal(threshold).times(rolled.limitUsd)));
      const expectedAlerts = [...[5, 50].map((threshold) => [day(today), threshold]), ...reachedTomorrow.map((threshold) => [day(tomorrow), threshold])];
      const alerts = await waitFor('the alerts of both days', alertsOf, (rows) => rows.length >= expectedAlerts.length);
      expect(alerts.map((alert) => [alert.window_start.toISOString().slice(0, 10), alert.threshold])).toEqual(expectedAlerts);
      const deliveries = await waitFor(
        'the first alert to be delivered',
        async () => {
          const forBudget = webhook.received.filter((r) => JSON.parse(r.body).budget.id === budgetId);
          return forBudget.filter((r) => r.headers['x-atelier-delivery'] === forBudget[0]?.headers['x-atelier-delivery']);
        },
        (list) => list.some((r) => r.status === 200),
      );
      const [first, retry] = deliveries;
      expect(first?.status).toBe(500);
      expect(retry).toMatchObject({ status: 200, body: first?.body });
      expect(retry?.headers['x-atelier-delivery']).toBe(first?.headers['x-atelier-delivery']);
      expect(retry?.headers['x-atelier-signature']).toBe(signAlertBody(WEBHOOK_SECRET, retry!.body));
      expect(JSON.parse(retry!.body)).toMatchObject({ type: 'budget.alert', threshold: 5, budget: { scope: 'tenant', tenant: 'capped', period: 'day', limitUsd: '1' } });
      await waitFor('every alert marked delivered', alertsOf, (rows) => rows.every((alert) => alert.state === 'delivered'));
      expect(Number((await sql.query(`SELECT count(*) FROM audit_events WHERE action = 'budget.alert' AND subject = $1`, [`budget:${budgetId}`])).rows[0].count)).toBe(expectedAlerts.length);

      // Counted by the service that raised them (the orchestrator's ledger housekeeping), and the utilization is exported.
      const counted = await Promise.all(
        services.map(async (service) => {
          const text = await (await fetch(`${service.url}/metrics`)).text();
          const line = text.split('\n').find((l) => l.startsWith('atelier_budget_alerts_total{') && l.includes('scope="tenant"') && l.includes('threshold="5"'));
          return line ? Number(line.split(' ').at(-1)) : 0;
        }),
      );
      expect(counted.reduce((a, b) => a + b, 0)).toBe(expectedAlerts.filter(([, threshold]) => threshold === 5).length);
      const metrics = await (await api.call('/metrics')).text();
      expect(metrics).toMatch(/atelier_budget_utilization_ratio\{[^}]*scope="tenant"[^}]*\} [\d.e-]+/);
    } finally {
      setClock(Date.now());
    }
  }, 120_000);

  it("tells a tenant the platform's cap is exhausted without the platform's figures", async () => {
    const putGlobal = (limitUsd: string) => api.call('/v1/budgets', { method: 'PUT', key: BOOTSTRAP_KEY, body: JSON.stringify({ scope: 'global', period: 'month', limitUsd }) });
    expect((await putGlobal('0')).status).toBe(200);
    try {
      const task = await api.waitForTask(await submit(globexKey, { workflow: 'brief', input: { goal: `Offshore wind ${randomUUID()}` } }), globexKey);
      expect(task.status).toBe('budget_exceeded');
      expect(task.error.message).toContain("the platform's monthly spend cap is exhausted");
      expect(task.error.message).not.toMatch(/global|limit of \$0 /);
    } finally {
      expect((await putGlobal('100')).status).toBe(200);
    }
  });

  it('answers an identical request from the response cache at no cost, and honours the per-task opt-out', async () => {
    const goal = `Tidal power economics ${randomUUID()}`;
    // The two-step workflow: one model call per step, so two answers to take from the cache.
    const first = await api.waitForTask(await submit(acmeKey, { workflow: 'brief', input: { goal } }), acmeKey);
    expect(first.status).toBe('completed');
    const repeat = await api.waitForTask(await submit(acmeKey, { workflow: 'brief', input: { goal } }), acmeKey);
    expect(repeat).toMatchObject({ status: 'completed', costUsd: '0', result: { document: first.result.document } });
    const calls = (await sql.query(`SELECT cache_hit, cost_usd::text AS cost FROM llm_calls WHERE task_id = $1`, [repeat.id])).rows;
    expect(calls).toEqual([
      { cache_hit: true, cost: '0.000000000000' },
      { cache_hit: true, cost: '0.000000000000' },
    ]);
    const actions = (await auditOf(repeat.id)).map((event) => event.action);
    expect(actions.filter((action) => action === 'llm.cache_hit')).toHaveLength(2);
    expect(actions).not.toContain('llm.call');

    const optedOut = await api.waitForTask(await submit(acmeKey, { workflow: 'brief', input: { goal }, responseCache: false }), acmeKey);
    expect(optedOut.status).toBe('completed');
    expect(Number(optedOut.costUsd)).toBeGreaterThan(0);
    expect((await auditOf(optedOut.id)).filter((event) => event.action === 'llm.cache_hit')).toEqual([]);

    const usage = await api.json('/v1/usage?groupBy=task&limit=1000', { key: acmeKey });
    expect(usage.items.find((item: { key: string }) => item.key === repeat.id)).toMatchObject({ calls: 2, cacheHits: 2, costUsd: '0', inputTokens: 0 });
  }, 40_000);

  it('lets admins put budgets and tenants read their own, with strict validation and 404 across tenants', async () => {
    const put = (key: string, body: unknown) => api.call('/v1/budgets', { method: 'PUT', key, body: JSON.stringify(body) });
    expect((await put(acmeKey, { scope: 'tenant', tenant: 'acme', period: 'day', limitUsd: '1000' })).status).toBe(403);
    const bad = await put(BOOTSTRAP_KEY, { scope: 'task', tenant: 'acme', period: 'day', limitUsd: '-1', alertThresholds: [50, 50], color: 'red' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect(await fieldsOf(bad)).toEqual(expect.arrayContaining(['limitUsd', 'alertThresholds', 'color']));
    const semantic = await put(BOOTSTRAP_KEY, { scope: 'task', tenant: 'acme', period: 'day', limitUsd: '1' });
    expect((await fieldsOf(semantic)).sort()).toEqual(['period', 'taskId', 'tenant']);
    expect((await put(BOOTSTRAP_KEY, { scope: 'tenant', tenant: 'nobody', period: 'day', limitUsd: '1' })).status).toBe(404);
    expect((await put(BOOTSTRAP_KEY, { scope: 'task', taskId: randomUUID(), period: 'total', limitUsd: '1' })).status).toBe(404);

    // The configured defaults: a global cap at start-up, a tenant cap at the tenant's first task.
    const [global] = (await api.json('/v1/budgets?scope=global', { key: BOOTSTRAP_KEY })).items;
    expect(global).toMatchObject({ scope: 'global', period: 'month', limitUsd: '100' });
    const acmeBudgets = (await api.json('/v1/budgets?scope=tenant', { key: acmeKey })).items;
    expect(acmeBudgets).toEqual([expect.objectContaining({ tenant: 'acme', period: 'day', limitUsd: '5', alertThresholds: [50, 80, 100] })]);

    const updated = await put(BOOTSTRAP_KEY, { scope: 'tenant', tenant: 'acme', period: 'day', limitUsd: '7.5', alertThresholds: [90, 25] });
    expect(updated.status).toBe(200);
    expect(await updated.json()).toMatchObject({ id: acmeBudgets[0].id, limitUsd: '7.5', alertThresholds: [25, 90] });
    const audit = (await sql.query(`SELECT actor, data FROM audit_events WHERE action = 'budget.updated' AND subject = $1 ORDER BY seq`, [`budget:${acmeBudgets[0].id}`])).rows;
    expect(audit.map((event) => [event.data.limitUsd, event.data.previousLimitUsd])).toEqual([
      ['5', null],
      ['7.5', '5'],
    ]);
    expect(audit[1].actor).toMatch(/^apikey:/);

    // A tenant never sees the global budget nor another tenant's.
    const acmeAll = (await api.json('/v1/budgets?limit=100', { key: acmeKey })).items;
    expect(acmeAll.every((budget: { tenant?: string }) => budget.tenant === 'acme')).toBe(true);
    expect((await api.call('/v1/budgets?tenant=capped', { key: acmeKey })).status).toBe(404);
    const cappedTask = (await sql.query(`SELECT t.id FROM tasks t JOIN tenants n ON n.id = t.tenant_id WHERE n.name = 'capped' LIMIT 1`)).rows[0].id;
    expect((await api.call(`/v1/budgets?taskId=${cappedTask}`, { key: acmeKey })).status).toBe(404);
    expect((await api.call('/v1/budgets?scope=everything', { key: acmeKey })).status).toBe(400);
    const page = await api.json('/v1/budgets?limit=1', { key: BOOTSTRAP_KEY });
    expect(page.items).toHaveLength(1);
    const next = await api.json(`/v1/budgets?limit=1&cursor=${page.nextCursor}`, { key: BOOTSTRAP_KEY });
    expect(next.items[0].id > page.items[0].id).toBe(true);
    const badCursor = await api.call('/v1/budgets?cursor=000000000000000000000000000000000000', { key: BOOTSTRAP_KEY });
    expect(badCursor.status).toBe(400);
    expect(await fieldsOf(badCursor)).toEqual(['cursor']);

    // Money is kept to the 12th decimal as sent, or refused naming the field: never rounded.
    const raw = (body: string) => api.call('/v1/budgets', { method: 'PUT', key: BOOTSTRAP_KEY, body });
    const exact = await raw('{"scope": "tenant", "tenant": "globex", "period": "day", "limitUsd": "1234567.123456789012"}');
    expect(exact.status).toBe(200);
    expect(await exact.json()).toMatchObject({ tenant: 'globex', limitUsd: '1234567.123456789012' });
    const lossy = await raw('{"scope": "tenant", "tenant": "globex", "period": "day", "limitUsd": 1234567.123456789012}');
    expect(lossy.status).toBe(400);
    expect(lossy.headers.get('content-type')).toContain('application/problem+json');
    expect(await fieldsOf(lossy)).toEqual(['limitUsd']);
    const plain = await raw('{"scope": "tenant", "tenant": "globex", "period": "day", "limitUsd": 2.5}');
    expect(await plain.json()).toMatchObject({ limitUsd: '2.5' });
    const [globexBudget] = (await api.json('/v1/budgets?scope=tenant', { key: globexKey })).items;
    expect(globexBudget.limitUsd).toBe('2.5');
    const lossyTask = await api.call('/v1/tasks', { method: 'POST', key: globexKey, body: '{"input": {"goal": "x"}, "budgetUsd": 0.10000000000000000555}' });
    expect(lossyTask.status).toBe(400);
    expect(await fieldsOf(lossyTask)).toEqual(['budgetUsd']);
  });

  it('reports usage by model, day and task from the ledger, scoped to the tenant', async () => {
    const acmeId = (await sql.query(`SELECT id FROM tenants WHERE name = 'acme'`)).rows[0].id;
    const byModel = await api.json('/v1/usage?groupBy=model', { key: acmeKey });
    expect(byModel.tenant).toBe('acme');
    expect(byModel.items.map((item: { key: string }) => item.key)).toEqual(expect.arrayContaining(['claude-sonnet-5-5']));
    expect(new Decimal(byModel.total.costUsd).equals(await ledgerTotal('tenant_id', acmeId))).toBe(true);
    const summed = byModel.items.reduce((sum: Decimal, item: { costUsd: string }) => sum.plus(item.costUsd), new Decimal(0));
    expect(summed.equals(byModel.total.costUsd)).toBe(true);
    expect(byModel.total.cacheHits).toBeGreaterThanOrEqual(2);

    const byDay = await api.json('/v1/usage?groupBy=day', { key: acmeKey });
    expect(byDay.items.map((item: { key: string }) => item.key)).toContain(new Date().toISOString().slice(0, 10));
    const asAdmin = await api.json('/v1/usage?groupBy=model&tenant=acme', { key: BOOTSTRAP_KEY });
    expect(asAdmin.total).toEqual(byModel.total);
    const everyone = await api.json('/v1/usage?groupBy=model', { key: BOOTSTRAP_KEY });
    expect(new Decimal(everyone.total.costUsd).greaterThan(byModel.total.costUsd)).toBe(true);
    const byTenant = await api.json('/v1/usage?groupBy=tenant', { key: BOOTSTRAP_KEY });
    expect(byTenant.items.map((item: { key: string }) => item.key).sort()).toEqual(['acme', 'capped']);
    expect(byTenant.total).toEqual(everyone.total);
    expect((await api.json('/v1/usage?groupBy=tenant', { key: acmeKey })).items.map((item: { key: string }) => item.key)).toEqual(['acme']);

    expect((await api.call('/v1/usage?tenant=acme', { key: globexKey })).status).toBe(404);
    expect((await api.json('/v1/usage', { key: globexKey })).items).toEqual([]);
    const bad = await api.call('/v1/usage?groupBy=week&from=yesterday', { key: acmeKey });
    expect(bad.status).toBe(400);
    expect((await fieldsOf(bad)).sort()).toEqual(['from', 'groupBy']);
    for (const query of ['from=0000-01-01', 'to=0000-01-01', 'from=9999-12-31T23:59:59-10:00']) {
      const outOfRange = await api.call(`/v1/usage?${query}`, { key: acmeKey });
      expect(outOfRange.status).toBe(400);
      expect(await fieldsOf(outOfRange)).toEqual([query.split('=')[0]]);
    }
  });
});
