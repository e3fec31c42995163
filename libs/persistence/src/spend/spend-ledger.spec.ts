import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Decimal from 'decimal.js';
import { createPrismaClient, type PrismaService } from '../prisma.service';
import { createScratchDatabase, type ScratchDatabase } from '../database-bootstrap';
import { readBudgetBalances } from './budget-balances';
import type { Clock } from './clock';
import { AttemptAlreadySettledError, type ReserveRequest, SpendLedger, type StepClaimTerms } from './spend-ledger';

// Persistence's own specs stay off @atelier/testing (which is built on this library).
const TEST_SERVER = process.env['TEST_DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const MIGRATIONS = join(__dirname, '..', '..', '..', '..', 'prisma', 'migrations');

// The ledger against real Postgres, with a clock the test moves (UTC windows roll over
// when the clock crosses midnight; the database itself is never faked).

class TestClock implements Clock {
  constructor(public at: Date) {}
  now(): Date {
    return this.at;
  }
}

describe(SpendLedger.name, () => {
  let db: ScratchDatabase;
  let prisma: PrismaService;
  const clock = new TestClock(new Date('2026-11-23T12:00:00.000Z'));
  let ledger: SpendLedger;

  beforeAll(async () => {
    db = await createScratchDatabase(TEST_SERVER, MIGRATIONS, 'atelier_ledger');
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 4 });
    ledger = new SpendLedger(prisma.pool, clock);
  });

  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  async function newTask(options: { responseCache?: boolean } = {}) {
    const tenant = await prisma.tenant.create({ data: { name: `t-${randomUUID().slice(0, 8)}` } });
    const task = await prisma.task.create({ data: { tenantId: tenant.id, workflow: 'research-report', input: { goal: 'g' }, responseCache: options.responseCache ?? true } });
    const step = await prisma.step.create({ data: { taskId: task.id, key: 'investigate', kind: 'research.investigate', agent: 'research', input: {} } });
    return { tenantId: tenant.id, taskId: task.id, stepId: step.id };
  }

  async function budget(scope: 'GLOBAL' | 'TENANT' | 'TASK', limitUsd: string, target: { tenantId: string; taskId: string }, period: 'TOTAL' | 'DAY' | 'MONTH' = 'TOTAL', windowStart = clock.now()) {
    const scopeKey = scope === 'GLOBAL' ? 'global' : scope === 'TENANT' ? `tenant:${target.tenantId}` : `task:${target.taskId}`;
    return prisma.budget.create({
      data: { scope, scopeKey, period, limitUsd, windowStart, tenantId: scope === 'GLOBAL' ? null : target.tenantId, taskId: scope === 'TASK' ? target.taskId : null },
    });
  }

  const request = (target: { tenantId: string; taskId: string; stepId: string }, amountUsd: string, attemptId = `${target.stepId}:1:${randomUUID()}:1`): ReserveRequest => ({
    attemptId,
    target,
    amountUsd,
    ttlMs: 60_000,
    model: 'claude-haiku-5-5',
    attempt: 1,
    actor: 'service:research-agent',
    traceId: 'trace-1',
  });

  /** A budget's exact money (budget_balances: the row with the settlements not yet folded into it). */
  const money = async (id: string) => {
    const balance = (await readBudgetBalances(prisma, [id])).get(id);
    return { spent: balance?.spentUsd.toFixed(), reserved: balance?.reservedUsd.toFixed() };
  };
  /** What the budget row itself says. */
  const row = async (id: string) => {
    const budgetRow = await prisma.budget.findUniqueOrThrow({ where: { id } });
    return { spent: budgetRow.spentUsd.toFixed(), reserved: budgetRow.reservedUsd.toFixed() };
  };

  afterEach(() => {
    clock.at = new Date('2026-11-23T12:00:00.000Z');
  });

  it('holds the worst case on every applicable budget, all or nothing, and says which budget refused', async () => {
    const target = await newTask();
    const task = await budget('TASK', '0.01', target);
    const tenant = await budget('TENANT', '1', target);
    const other = await newTask();
    const foreign = await budget('TENANT', '1', other);

    const granted = await ledger.reserve(request(target, '0.006'));
    expect(granted).toEqual({ granted: true, amountUsd: '0.006', budgetIds: [task.id, tenant.id].sort(), replayed: false });
    expect(await money(task.id)).toEqual({ spent: '0', reserved: '0.006' });
    expect(await money(tenant.id)).toEqual({ spent: '0', reserved: '0.006' });
    expect(await money(foreign.id)).toEqual({ spent: '0', reserved: '0' });

    const denied = await ledger.reserve(request(target, '0.005'));
    expect(denied).toMatchObject({ granted: false, amountUsd: '0.005', blocking: [{ id: task.id, scope: 'task', period: 'total', limitUsd: '0.01', spentUsd: '0', reservedUsd: '0.006', fits: false }] });
    // Refused means nothing moved, not even on the budgets that had room.
    expect(await money(tenant.id)).toEqual({ spent: '0', reserved: '0.006' });
    expect(await prisma.spendReservation.count({ where: { taskId: target.taskId } })).toBe(1);
  });

  it('reserves once per attempt id however often it is asked', async () => {
    const target = await newTask();
    const task = await budget('TASK', '1', target);
    const same = request(target, '0.1');
    const results = await Promise.all([ledger.reserve(same), ledger.reserve(same), ledger.reserve(same)]);
    expect(results.filter((result) => result.granted && !result.replayed)).toHaveLength(1);
    expect(results.every((result) => result.granted)).toBe(true);
    expect(await money(task.id)).toEqual({ spent: '0', reserved: '0.1' });
  });

  it('answers a repeated attempt id with its hold while it is held, and never grants it again once settled', async () => {
    const target = await newTask();
    const task = await budget('TASK', '1', target);
    const same = request(target, '0.1');
    expect(await ledger.reserve(same)).toMatchObject({ granted: true, replayed: false });
    expect(await ledger.reserve({ ...same, amountUsd: '0.5' })).toEqual({ granted: true, replayed: true, amountUsd: '0.1', budgetIds: [task.id] });
    await ledger.settle({ attemptId: same.attemptId, outcome: 'success', costUsd: '0.05' });
    await expect(ledger.reserve(same)).rejects.toThrow(AttemptAlreadySettledError);
    await ledger.settle({ attemptId: same.attemptId, outcome: 'success', costUsd: '0.05' });
    expect(await money(task.id)).toEqual({ spent: '0.05', reserved: '0' });
    expect(await prisma.spendReservation.count({ where: { attemptId: same.attemptId } })).toBe(1);
  });

  /** A ledger whose statements are recorded, and the first of which waits for `release`: calls arriving meanwhile form one group. */
  function watchedLedger() {
    const statements: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const watched = new SpendLedger(
      {
        query: async (config) => {
          statements.push(String(config.name));
          if (statements.length === 1) await gate;
          return prisma.pool.query(config);
        },
      },
      clock,
    );
    return { ledger: watched, statements, release: () => release() };
  }

  it('decides concurrent reservations grouped in one statement exactly as it would one by one, in arrival order', async () => {
    const target = await newTask();
    const task = await budget('TASK', '10', target);
    const { ledger: watched, statements, release } = watchedLedger();
    // The first goes alone (granted whole by the fast statement); the three arriving
    // meanwhile go together: they do not all fit, so the fast statement declines and the
    // exact one decides them.
    const pending = ['6', '6', '3', '20'].map((amount) => watched.reserve(request(target, amount)));
    release();
    const results = await Promise.all(pending);
    expect(statements).toEqual(['atelier_spend_reserve_fast_v4', 'atelier_spend_reserve_fast_v4', 'atelier_spend_reserve_v7']);
    expect(results.map((result) => result.granted)).toEqual([true, false, true, false]);
    expect(results[1]).toMatchObject({ blocking: [{ id: task.id, limitUsd: '10', reservedUsd: '6' }] });
    expect(await money(task.id)).toEqual({ spent: '0', reserved: '9' });
  });

  it('decides in a further statement what a group could not, still in arrival order', async () => {
    const target = await newTask();
    const task = await budget('TASK', '10', target);
    const { ledger: watched, statements, release } = watchedLedger();
    // 1 alone; then 5, 5, 4 together: the first 5 fits; the second 5 and the 4 each fit
    // alone but not after every earlier one, so they go again: 5 no longer fits, 4 does.
    const pending = ['1', '5', '5', '4'].map((amount) => watched.reserve(request(target, amount)));
    release();
    const results = await Promise.all(pending);
    expect(results.map((result) => result.granted)).toEqual([true, true, false, true]);
    // 1 fast; 5, 5, 4: fast declines, exact grants 5; 5, 4: straight to the exact statement
    // (the fast one declined a moment ago), which decides them.
    expect(statements).toEqual(['fast', 'fast', 'exact', 'exact'].map((kind) => (kind === 'fast' ? 'atelier_spend_reserve_fast_v4' : 'atelier_spend_reserve_v7')));
    expect(await money(task.id)).toEqual({ spent: '0', reserved: '10' });
  });

  it('fails only the call that fails alone when a grouped reservation or settlement breaks', async () => {
    const target = await newTask();
    const task = await budget('TASK', '10', target);
    const { ledger: watched, release } = watchedLedger();
    const good = [request(target, '1'), request(target, '2'), request(target, '3')];
    const bad = request({ ...target, tenantId: 'not-a-uuid' }, '1');
    const reserved = [watched.reserve(good[0]!), watched.reserve(good[1]!), watched.reserve(bad), watched.reserve(good[2]!)].map((pending) => pending.catch((error: unknown) => error));
    release();
    const [first, second, broken, third] = await Promise.all(reserved);
    expect([first, second, third]).toEqual([expect.objectContaining({ granted: true }), expect.objectContaining({ granted: true }), expect.objectContaining({ granted: true })]);
    expect(broken).toMatchObject({ code: '22P02' });
    expect(await money(task.id)).toEqual({ spent: '0', reserved: '6' });

    // A cost the ledger's column cannot hold breaks its group's statement; the others settle.
    const settled = await Promise.all([
      ledger.settle({ attemptId: good[0]!.attemptId, outcome: 'success', costUsd: '0.5' }),
      ledger.settle({ attemptId: good[1]!.attemptId, outcome: 'success', costUsd: '1e20' }).catch((error: unknown) => error),
      ledger.settle({ attemptId: good[2]!.attemptId, outcome: 'success', costUsd: '0.25' }),
    ]);
    expect(settled[0]).toMatchObject({ settled: true, costUsd: '0.5' });
    expect(settled[1]).toMatchObject({ code: '22003' });
    expect(settled[2]).toMatchObject({ settled: true, costUsd: '0.25' });
    expect(await money(task.id)).toEqual({ spent: '0.75', reserved: '2' });
  });

  it('leaves the budget rows to whoever locks them next: the row over-states until folded, the balance is exact', async () => {
    const target = await newTask();
    const task = await budget('TASK', '1', target);
    const first = request(target, '0.3');
    await ledger.reserve(first);
    await ledger.settle({ attemptId: first.attemptId, outcome: 'success', costUsd: '0.1' });
    // The settlement took no lock on the budget: its row still holds the whole reservation.
    expect(await row(task.id)).toEqual({ spent: '0', reserved: '0.3' });
    expect(await money(task.id)).toEqual({ spent: '0.1', reserved: '0' });
    // The next reservation folds it in before deciding: 0.1 + 0.9 fits the cap of 1.
    const second = request(target, '0.9');
    expect(await ledger.reserve(second)).toMatchObject({ granted: true });
    expect(await row(task.id)).toEqual({ spent: '0.1', reserved: '0.9' });
    await ledger.settle({ attemptId: second.attemptId, outcome: 'error' });
    expect(await ledger.foldSettlements()).toBeGreaterThanOrEqual(1);
    expect(await row(task.id)).toEqual({ spent: '0.1', reserved: '0' });
    expect(await prisma.budgetPendingSettlement.count({ where: { budgetId: task.id } })).toBe(0);
  });

  it('records a cost above its reservation exactly, and names the overrun', async () => {
    const target = await newTask();
    const task = await budget('TASK', '1', target);
    const r = request(target, '0.01');
    await ledger.reserve(r);
    expect(await ledger.settle({ attemptId: r.attemptId, outcome: 'success', costUsd: '0.0125' })).toMatchObject({ settled: true, costUsd: '0.0125', overrunUsd: '0.0025' });
    expect(await money(task.id)).toEqual({ spent: '0.0125', reserved: '0' });
    const [event] = await prisma.auditEvent.findMany({ where: { taskId: target.taskId, action: 'llm.call' } });
    expect(event?.data).toMatchObject({ costUsd: '0.0125', reservedUsd: '0.01', overrunUsd: '0.0025' });
  });

  it('settles a success at its actual cost in the ledger, with its audit event, and releases the rest once', async () => {
    const target = await newTask();
    const task = await budget('TASK', '1', target);
    const reserve = request(target, '0.02');
    await ledger.reserve(reserve);
    const settlement = {
      attemptId: reserve.attemptId,
      outcome: 'success' as const,
      costUsd: new Decimal('0.001234567891234'),
      usage: { inputTokens: 120, outputTokens: 80, cacheCreationInputTokens: 30, cacheCreation1hInputTokens: 10, cacheReadInputTokens: 5 },
      latencyMs: 42,
      requestId: 'req_1',
    };
    const first = await ledger.settle(settlement);
    // 12 decimals, rounded up: never charge less than priced.
    expect(first).toMatchObject({ settled: true, costUsd: '0.001234567892' });
    expect(await ledger.settle(settlement)).toMatchObject({ settled: false });
    expect(await money(task.id)).toEqual({ spent: '0.001234567892', reserved: '0' });
    expect(Object.keys((await prisma.auditEvent.findFirstOrThrow({ where: { taskId: target.taskId, action: 'llm.call' } })).data as object)).not.toContain('overrunUsd');

    const call = await prisma.llmCall.findUniqueOrThrow({ where: { attemptId: reserve.attemptId } });
    expect(call).toMatchObject({ outcome: 'SUCCESS', inputTokens: 120, outputTokens: 80, cacheCreationInputTokens: 30, cacheCreation1hInputTokens: 10, cacheReadInputTokens: 5, latencyMs: 42, requestId: 'req_1', model: 'claude-haiku-5-5', cacheHit: false });
    expect(call.costUsd.toFixed()).toBe('0.001234567892');
    expect(call.reservedUsd?.toFixed()).toBe('0.02');
    const audit = await prisma.auditEvent.findMany({ where: { taskId: target.taskId, action: 'llm.call' } });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'service:research-agent', subject: `step:${target.stepId}`, traceId: 'trace-1', requestId: 'req_1' });
    expect(audit[0]?.data).toMatchObject({ attemptId: reserve.attemptId, costUsd: '0.001234567892', reservedUsd: '0.02', outcome: 'success' });
    expect((await prisma.spendReservation.findUniqueOrThrow({ where: { attemptId: reserve.attemptId } })).state).toBe('SETTLED');
  });

  it('bills an answered error 0, a call that never answered its whole reservation, and a call never sent nothing at all', async () => {
    const target = await newTask();
    const task = await budget('TASK', '1', target);
    const [answered, lost, unsent] = [request(target, '0.1'), request(target, '0.2'), request(target, '0.3')];
    for (const r of [answered, lost, unsent]) await ledger.reserve(r);
    await ledger.settle({ attemptId: answered.attemptId, outcome: 'error', errorType: 'overloaded', latencyMs: 5 });
    await ledger.settle({ attemptId: lost.attemptId, outcome: 'unknown', errorType: 'timeout', latencyMs: 30_000 });
    await ledger.settle({ attemptId: unsent.attemptId, outcome: 'not_sent' });
    expect(await money(task.id)).toEqual({ spent: '0.2', reserved: '0' });

    const calls = await prisma.llmCall.findMany({ where: { taskId: target.taskId }, orderBy: { costUsd: 'asc' } });
    expect(calls.map((c) => [c.outcome, c.costUsd.toFixed(), c.errorType])).toEqual([
      ['ERROR', '0', 'overloaded'],
      ['UNKNOWN', '0.2', 'timeout'],
    ]);
    const states = await prisma.spendReservation.findMany({ where: { taskId: target.taskId }, orderBy: { amountUsd: 'asc' } });
    expect(states.map((s) => s.state)).toEqual(['RELEASED', 'UNKNOWN_OUTCOME', 'RELEASED']);
  });

  it('starts a daily budget again at UTC midnight, booking a hold that spans midnight in the day it settles', async () => {
    const target = await newTask();
    clock.at = new Date('2026-11-23T23:59:59.999Z');
    const daily = await budget('TENANT', '0.05', target, 'DAY', new Date('2026-11-23T00:00:00.000Z'));
    const spend = request(target, '0.04');
    await ledger.reserve(spend);
    await ledger.settle({ attemptId: spend.attemptId, outcome: 'success', costUsd: '0.04' });
    const spanning = request(target, '0.01');
    expect(await ledger.reserve(spanning)).toMatchObject({ granted: true });
    expect(await ledger.reserve(request(target, '0.01'))).toMatchObject({ granted: false });

    clock.at = new Date('2026-11-24T00:00:00.000Z');
    // The new day starts with nothing spent, but the hold made yesterday still counts.
    expect(await ledger.reserve(request(target, '0.045'))).toMatchObject({ granted: false, blocking: [{ spentUsd: '0', reservedUsd: '0.01' }] });
    const today = request(target, '0.04');
    expect(await ledger.reserve(today)).toMatchObject({ granted: true });
    const row = await prisma.budget.findUniqueOrThrow({ where: { id: daily.id } });
    expect(row.windowStart.toISOString()).toBe('2026-11-24T00:00:00.000Z');
    expect(await money(daily.id)).toEqual({ spent: '0', reserved: '0.05' });

    await ledger.settle({ attemptId: spanning.attemptId, outcome: 'success', costUsd: '0.003' });
    await ledger.settle({ attemptId: today.attemptId, outcome: 'success', costUsd: '0.004' });
    expect(await money(daily.id)).toEqual({ spent: '0.007', reserved: '0' });
    // What the day's window holds equals the ledger rows written in that UTC day.
    const [{ total }] = await prisma.$queryRawUnsafe<{ total: string }[]>(
      `SELECT sum(cost_usd)::text AS total FROM llm_calls WHERE tenant_id = $1::uuid AND created_at >= '2026-11-24T00:00:00Z'`,
      target.tenantId,
    );
    expect(new Decimal(total).equals('0.007')).toBe(true);
  });

  it('starts a monthly budget again on the first of the month, and never rolls back for a clock that lags', async () => {
    const target = await newTask();
    clock.at = new Date('2026-11-30T23:00:00.000Z');
    const monthly = await budget('TENANT', '1', target, 'MONTH', new Date('2026-11-01T00:00:00.000Z'));
    const spend = request(target, '0.9');
    await ledger.reserve(spend);
    await ledger.settle({ attemptId: spend.attemptId, outcome: 'success', costUsd: '0.9' });
    clock.at = new Date('2026-12-01T00:00:00.000Z');
    const december = request(target, '0.5');
    expect(await ledger.reserve(december)).toMatchObject({ granted: true });
    clock.at = new Date('2026-11-30T23:59:59.000Z');
    await ledger.settle({ attemptId: december.attemptId, outcome: 'success', costUsd: '0.5' });
    const row = await prisma.budget.findUniqueOrThrow({ where: { id: monthly.id } });
    expect(row.windowStart.toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(await money(monthly.id)).toEqual({ spent: '0.5', reserved: '0' });
  });

  it('raises each alert threshold once per window from the settled spend, with its audit event and outbox row', async () => {
    const target = await newTask();
    const daily = await budget('TASK', '1', target, 'DAY', new Date('2026-11-23T00:00:00.000Z'));
    const since = new Date(0);
    const spendAt = async (cost: string) => {
      const r = request(target, cost);
      await ledger.reserve(r);
      await ledger.settle({ attemptId: r.attemptId, outcome: 'success', costUsd: cost });
      const raised = await ledger.raiseAlerts(since, 'service:orchestrator');
      return raised.filter((alert) => alert.budgetId === daily.id).map((alert) => alert.threshold).sort((a, b) => a - b);
    };
    expect(await spendAt('0.4')).toEqual([]);
    expect(await spendAt('0.45')).toEqual([50, 80]);
    expect(await spendAt('0.1')).toEqual([]);
    expect(await spendAt('0.05')).toEqual([100]);
    clock.at = new Date('2026-11-24T08:00:00.000Z');
    expect(await spendAt('0.6')).toEqual([50]);
    expect(await ledger.raiseAlerts(since, 'service:orchestrator')).toEqual([]);

    const alerts = await prisma.budgetAlert.findMany({ where: { budgetId: daily.id }, orderBy: [{ windowStart: 'asc' }, { threshold: 'asc' }] });
    expect(alerts.map((a) => [a.windowStart.toISOString().slice(0, 10), a.threshold, a.spentUsd.toFixed(), a.state])).toEqual([
      ['2026-11-23', 50, '0.85', 'PENDING'],
      ['2026-11-23', 80, '0.85', 'PENDING'],
      ['2026-11-23', 100, '1', 'PENDING'],
      ['2026-11-24', 50, '0.6', 'PENDING'],
    ]);
    const audit = await prisma.auditEvent.findMany({ where: { action: 'budget.alert', subject: `budget:${daily.id}` } });
    expect(audit.map((event) => (event.data as { threshold: number }).threshold).sort((a, b) => a - b)).toEqual([50, 50, 80, 100]);
    expect(audit[0]).toMatchObject({ tenantId: target.tenantId, taskId: target.taskId, actor: 'service:orchestrator' });
  });

  it('sweeps holds past their TTL as unknown outcomes at the reserved amount, once, across sweepers', async () => {
    const target = await newTask();
    const task = await budget('TASK', '1', target);
    const expired = [request(target, '0.1'), request(target, '0.2')].map((r) => ({ ...r, ttlMs: 1_000 }));
    const live = { ...request(target, '0.3'), ttlMs: 120_000 };
    for (const r of [...expired, live]) await ledger.reserve(r);

    clock.at = new Date(clock.now().getTime() + 5_000);
    const sweeps = await Promise.all([ledger.sweepExpired(100, 'service:orchestrator'), ledger.sweepExpired(100, 'service:orchestrator')]);
    expect(sweeps.reduce((sum, sweep) => sum + sweep.count, 0)).toBe(2);
    expect(await money(task.id)).toEqual({ spent: '0.3', reserved: '0.3' });
    const calls = await prisma.llmCall.findMany({ where: { taskId: target.taskId } });
    expect(calls.map((c) => [c.outcome, c.costUsd.toFixed(), c.errorType, c.latencyMs]).sort()).toEqual([
      ['UNKNOWN', '0.1', 'holder_lost', 5_000],
      ['UNKNOWN', '0.2', 'holder_lost', 5_000],
    ]);
    const audit = await prisma.auditEvent.findMany({ where: { taskId: target.taskId, action: 'llm.call' } });
    expect(audit.every((event) => event.actor === 'service:orchestrator' && (event.data as { heldBy: string }).heldBy === 'service:research-agent')).toBe(true);
    // The holder coming back late changes nothing: the sweep already billed it.
    expect(await ledger.settle({ attemptId: expired[0]!.attemptId, outcome: 'success', costUsd: '0.01' })).toMatchObject({ settled: false });
    expect((await ledger.sweepExpired(100, 'service:orchestrator')).count).toBe(0);
  });

  it('answers identical requests from the response cache at cost 0, unless the task opted out or the entry expired', async () => {
    const target = await newTask();
    const first = request(target, '0.01');
    await ledger.reserve(first);
    const key = `key-${randomUUID()}`;
    await ledger.settle({
      attemptId: first.attemptId,
      outcome: 'success',
      costUsd: '0.002',
      responseCache: { key, ttlSeconds: 600, response: { text: 'cached answer', stopReason: 'end_turn' } },
    });
    const take = (over: Partial<Parameters<SpendLedger['takeCachedResponse']>[0]> = {}) =>
      ledger.takeCachedResponse({ key, attemptId: `${target.stepId}:2:1:1`, target, attempt: 2, actor: 'service:research-agent', traceId: 't', ...over });

    expect(await take()).toEqual({ model: 'claude-haiku-5-5', response: { text: 'cached answer', stopReason: 'end_turn' } });
    const hit = await prisma.llmCall.findUniqueOrThrow({ where: { attemptId: `${target.stepId}:2:1:1` } });
    expect(hit).toMatchObject({ cacheHit: true, outcome: 'SUCCESS', inputTokens: 0 });
    expect(hit.costUsd.toFixed()).toBe('0');
    expect(await prisma.auditEvent.count({ where: { taskId: target.taskId, action: 'llm.cache_hit' } })).toBe(1);

    const optedOut = await newTask({ responseCache: false });
    expect(await take({ target: { ...optedOut, tenantId: target.tenantId }, attemptId: 'other:1:1:1' })).toBeUndefined();
    const elsewhere = await newTask();
    expect(await take({ target: elsewhere, attemptId: 'foreign:1:1:1' })).toBeUndefined();
    clock.at = new Date(clock.now().getTime() + 601_000);
    expect(await take({ attemptId: `${target.stepId}:3:1:1` })).toBeUndefined();

    const noStore = request(optedOut, '0.01');
    await ledger.reserve(noStore);
    await ledger.settle({ attemptId: noStore.attemptId, outcome: 'success', costUsd: '0.001', responseCache: { key: `k-${randomUUID()}`, ttlSeconds: 600, response: {} } });
    expect(await prisma.llmResponseCacheEntry.count({ where: { tenantId: optedOut.tenantId } })).toBe(0);
  });

  describe('reserveUnlessCached', () => {
    /** A task with a cached answer under a fresh key, and a task budget of `limitUsd`. */
    async function cachedAnswer(limitUsd = '1') {
      const target = await newTask();
      const holder = await budget('TASK', limitUsd, target);
      const first = request(target, '0.0001');
      await ledger.reserve(first);
      const key = `key-${randomUUID()}`;
      await ledger.settle({ attemptId: first.attemptId, outcome: 'success', costUsd: '0.0001', responseCache: { key, ttlSeconds: 600, response: { text: 'cached answer' } } });
      return { target, holder, key };
    }

    it('answers from the response cache in the reservation statement: nothing held, a free call and llm.cache_hit recorded, even over a spent cap', async () => {
      const { target, holder, key } = await cachedAnswer('0.0001');
      const call = request(target, '0.5', `${target.stepId}:1:2:1`);
      expect(await ledger.reserveUnlessCached(call, key)).toEqual({ cached: { model: 'claude-haiku-5-5', response: { text: 'cached answer' } } });
      expect(await prisma.spendReservation.count({ where: { attemptId: call.attemptId } })).toBe(0);
      expect(await money(holder.id)).toEqual({ spent: '0.0001', reserved: '0' });
      const hit = await prisma.llmCall.findUniqueOrThrow({ where: { attemptId: call.attemptId } });
      expect(hit).toMatchObject({ cacheHit: true, outcome: 'SUCCESS', attempt: 1 });
      expect(hit.costUsd.toFixed()).toBe('0');
      const events = await prisma.auditEvent.findMany({ where: { taskId: target.taskId, action: 'llm.cache_hit' } });
      expect(events.map((event) => event.data)).toEqual([{ model: 'claude-haiku-5-5', attempt: 1, attemptId: call.attemptId, costUsd: '0', cacheKey: key }]);
    });

    it('holds as reserve does on a miss, for a task that opted out, and for an attempt id already held', async () => {
      const { target, holder, key } = await cachedAnswer();
      const miss = request(target, '0.01');
      expect(await ledger.reserveUnlessCached(miss, `missing-${randomUUID()}`)).toMatchObject({ granted: true, amountUsd: '0.01', replayed: false });
      const optedOut = await newTask({ responseCache: false });
      expect(await ledger.reserveUnlessCached(request({ ...optedOut, tenantId: target.tenantId }, '0.01'), key)).toMatchObject({ granted: true });
      // The hold came first: asked again under its attempt id, it stays the answer.
      expect(await ledger.reserveUnlessCached(miss, key)).toMatchObject({ granted: true, replayed: true });
      expect(await money(holder.id)).toEqual({ spent: '0.0001', reserved: '0.01' });
      expect(await prisma.llmCall.count({ where: { taskId: target.taskId, cacheHit: true } })).toBe(0);
    });

    it('decides hits, holds and refusals of calls issued together each on its own', async () => {
      const { target, holder, key } = await cachedAnswer('0.06');
      const outcomes = await Promise.all([
        ledger.reserve(request(target, '0.01')),
        ledger.reserveUnlessCached(request(target, '0.04'), key),
        ledger.reserveUnlessCached(request(target, '0.02'), `missing-${randomUUID()}`),
        ledger.reserveUnlessCached(request(target, '0.5'), `missing-${randomUUID()}`),
        ledger.reserve(request(target, '0.02')),
      ]);
      expect(outcomes).toEqual([
        expect.objectContaining({ granted: true }),
        { cached: { model: 'claude-haiku-5-5', response: { text: 'cached answer' } } },
        expect.objectContaining({ granted: true }),
        expect.objectContaining({ granted: false }),
        expect.objectContaining({ granted: true }),
      ]);
      expect(await money(holder.id)).toEqual({ spent: '0.0001', reserved: '0.05' });
    });
  });

  it('answers concurrent cache lookups each on its own, recording one hit per attempt id', async () => {
    const target = await newTask();
    const cached = request(target, '0.01');
    await ledger.reserve(cached);
    const key = `key-${randomUUID()}`;
    await ledger.settle({ attemptId: cached.attemptId, outcome: 'success', costUsd: '0.002', responseCache: { key, ttlSeconds: 600, response: { text: 'shared answer' } } });
    const optedOut = await newTask({ responseCache: false });
    const lookup = (attemptId: string, over: { key?: string; target?: typeof target } = {}) =>
      ledger.takeCachedResponse({ key: over.key ?? key, attemptId, target: over.target ?? target, attempt: 1, actor: 'service:writer-agent', traceId: null });

    // Issued together, they share statements (the ledger groups what arrives while one runs).
    const answers = await Promise.all([
      lookup(`${target.stepId}:1:1:1`),
      lookup(`${target.stepId}:1:2:1`, { key: `missing-${randomUUID()}` }),
      lookup(`${target.stepId}:1:3:1`),
      lookup(`${target.stepId}:1:3:1`),
      lookup('opted-out:1:1:1', { target: { ...optedOut, tenantId: target.tenantId } }),
    ]);

    const hit = { model: 'claude-haiku-5-5', response: { text: 'shared answer' } };
    expect(answers).toEqual([hit, undefined, hit, hit, undefined]);
    const hits = await prisma.llmCall.findMany({ where: { taskId: target.taskId, cacheHit: true }, orderBy: { attemptId: 'asc' } });
    expect(hits.map((call) => call.attemptId)).toEqual([`${target.stepId}:1:1:1`, `${target.stepId}:1:3:1`]);
    const events = await prisma.auditEvent.findMany({ where: { taskId: target.taskId, action: 'llm.cache_hit' } });
    expect(events.map((event) => (event.data as { attemptId: string }).attemptId).sort()).toEqual([`${target.stepId}:1:1:1`, `${target.stepId}:1:3:1`]);
    expect(events.every((event) => event.actor === 'service:writer-agent' && event.traceId === null)).toBe(true);
  });

  describe('reserveClaiming', () => {
    const terms = (over: Partial<StepClaimTerms> = {}): StepClaimTerms => ({ owner: `owner-${randomUUID()}`, leaseMs: 30_000, agent: 'research', input: '{}', ...over });
    const first = (target: { tenantId: string; taskId: string; stepId: string }, amountUsd = '0.01') => request(target, amountUsd, `${target.stepId}:1:1:1`);
    // A ledger of its own per test: after a decline, a ledger claims nothing for a while (the exact statement decides).
    let claiming: SpendLedger;
    beforeEach(() => {
      claiming = new SpendLedger(prisma.pool, clock);
    });
    const stepRow = (id: string) => prisma.step.findUniqueOrThrow({ where: { id } });
    const startedEvents = (stepId: string) => prisma.auditEvent.findMany({ where: { subject: `step:${stepId}`, action: 'step.started' } });

    it('claims a step that never ran and holds its first call in one statement', async () => {
      const target = await newTask();
      const task = await budget('TASK', '1', target);
      const claim = terms({ input: '{ }' });

      const result = await claiming.reserveClaiming(first(target), null, claim);

      expect(result).toEqual({
        claimed: { key: 'investigate', kind: 'research.investigate', dispatchSeq: 1, deadlineAt: null },
        reservation: { granted: true, amountUsd: '0.01', budgetIds: [task.id], replayed: false },
      });
      const step = await stepRow(target.stepId);
      expect(step).toMatchObject({ status: 'RUNNING', attempt: 1, leaseOwner: claim.owner });
      expect((step.leaseUntil?.getTime() ?? 0) - (step.startedAt?.getTime() ?? 0)).toBe(30_000);
      expect((await prisma.task.findUniqueOrThrow({ where: { id: target.taskId } })).status).toBe('RUNNING');
      const [started, ...more] = await startedEvents(target.stepId);
      expect(more).toEqual([]);
      expect(started).toMatchObject({ actor: 'service:research-agent', tenantId: target.tenantId, traceId: 'trace-1', data: { key: 'investigate', kind: 'research.investigate', attempt: 1 } });
      expect(await money(task.id)).toEqual({ spent: '0', reserved: '0.01' });
    });

    it('claims and reserves nothing for a step that ran before, holds other input, is another agent\'s, or whose task is over or past its deadline', async () => {
      const ran = await newTask();
      await claiming.reserveClaiming(first(ran), null, terms());
      const otherInput = await newTask();
      const otherAgent = await newTask();
      const cancelled = await newTask();
      await prisma.task.update({ where: { id: cancelled.taskId }, data: { status: 'CANCELLED' } });
      const late = await newTask();
      await prisma.task.update({ where: { id: late.taskId }, data: { deadlineAt: new Date(Date.now() - 1_000) } });
      const before = await Promise.all([ran, otherInput, otherAgent, cancelled, late].map((target) => stepRow(target.stepId)));

      const results = await Promise.all([
        claiming.reserveClaiming({ ...first(ran), attemptId: `${ran.stepId}:1:1:2` }, null, terms()),
        claiming.reserveClaiming(first(otherInput), null, terms({ input: '{"goal":"another"}' })),
        claiming.reserveClaiming(first(otherAgent), null, terms({ agent: 'writer' })),
        claiming.reserveClaiming(first(cancelled), null, terms()),
        claiming.reserveClaiming(first(late), null, terms()),
      ]);

      expect(results).toEqual(results.map(() => ({ claimed: false })));
      const after = await Promise.all([ran, otherInput, otherAgent, cancelled, late].map((target) => stepRow(target.stepId)));
      expect(after).toEqual(before);
      expect(await prisma.spendReservation.count({ where: { stepId: { in: [otherInput, otherAgent, cancelled, late].map((target) => target.stepId) } } })).toBe(0);
      expect(await prisma.spendReservation.count({ where: { stepId: ran.stepId } })).toBe(1);
      expect(await prisma.auditEvent.count({ where: { action: 'step.started', subject: { in: [otherInput, otherAgent, cancelled, late].map((target) => `step:${target.stepId}`) } } })).toBe(0);
    });

    it('claims nothing when the call does not fit: the step stays queued and the exact reservation decides apart', async () => {
      const target = await newTask();
      const task = await budget('TASK', '0.005', target);
      expect(await claiming.reserveClaiming(first(target), null, terms())).toEqual({ claimed: false });

      expect(await stepRow(target.stepId)).toMatchObject({ status: 'QUEUED', attempt: 0, leaseOwner: null });
      expect(await startedEvents(target.stepId)).toEqual([]);
      expect(await prisma.spendReservation.count({ where: { stepId: target.stepId } })).toBe(0);
      expect(await money(task.id)).toEqual({ spent: '0', reserved: '0' });
      // Apart, the exact statement refuses it, naming the budget.
      expect(await claiming.reserve(first(target))).toMatchObject({ granted: false, blocking: [{ id: task.id }] });
    });

    it('lets one of two deliveries racing from two processes claim the step', async () => {
      const target = await newTask();
      const other = new SpendLedger(prisma.pool, clock);

      const results = await Promise.all([claiming.reserveClaiming(first(target), null, terms()), other.reserveClaiming(first(target), null, terms())]);

      expect(results.filter((result) => result.claimed !== false)).toHaveLength(1);
      expect(await prisma.spendReservation.count({ where: { stepId: target.stepId } })).toBe(1);
      expect(await startedEvents(target.stepId)).toHaveLength(1);
    });

    it('answers a claimed step\'s call from the response cache, its start recorded before the hit', async () => {
      const target = await newTask();
      const earlier = await newTask();
      await prisma.task.update({ where: { id: earlier.taskId }, data: { tenantId: target.tenantId } });
      const cached = request({ ...earlier, tenantId: target.tenantId }, '0.01');
      await ledger.reserve(cached);
      const key = `key-${randomUUID()}`;
      await ledger.settle({ attemptId: cached.attemptId, outcome: 'success', costUsd: '0.002', responseCache: { key, ttlSeconds: 600, response: { text: 'cached answer' } } });

      const result = await claiming.reserveClaiming(first(target), key, terms());

      expect(result).toEqual({ claimed: expect.objectContaining({ key: 'investigate' }), reservation: { cached: { model: 'claude-haiku-5-5', response: { text: 'cached answer' } } } });
      const events = await prisma.auditEvent.findMany({ where: { subject: `step:${target.stepId}` }, orderBy: { seq: 'asc' } });
      expect(events.map((event) => event.action)).toEqual(['step.started', 'llm.cache_hit']);
      expect(await prisma.spendReservation.count({ where: { stepId: target.stepId } })).toBe(0);
    });
  });
});
