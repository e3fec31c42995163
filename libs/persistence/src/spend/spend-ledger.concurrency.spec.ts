import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Decimal from 'decimal.js';
import { Client } from 'pg';
import { createPrismaClient, type PrismaService } from '../prisma.service';
import { createScratchDatabase, type ScratchDatabase } from '../database-bootstrap';
import { SpendLedger, toLedgerAmount } from './spend-ledger';
import type { WorkerOutcome, WorkerReservation } from './spend-worker';
import { type SpendWorker, type SpendWorkerOptions, startSpendWorker } from './spend-worker-process';

// Persistence's own specs stay off @atelier/testing (which is built on this library).
const TEST_SERVER = process.env['TEST_DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const MIGRATIONS = join(__dirname, '..', '..', '..', '..', 'prisma', 'migrations');

// The hard-cap proof: reservations race from several OS processes (each with its own
// connection pool) against real Postgres, while a sampler reads the budgets the whole
// time. A cap is a ceiling at every instant, and the money adds up to the cent.

const WORKERS = 4;
const X = '0.000123456789';
const x = new Decimal(X);

/**
 * Reads every budget in a loop, each read one snapshot: the exact money (budget_balances,
 * the rows with the settlements not yet folded in) and the rows themselves (which may
 * over-state, never under-state). Any with spent + reserved > limit is a violation.
 */
function startSampler(url: string) {
  const client = new Client({ connectionString: url });
  let running = true;
  let samples = 0;
  const violations: string[] = [];
  const done = (async () => {
    await client.connect();
    while (running) {
      const { rows } = await client.query<{ source: string; scope_key: string; spent: string; reserved: string; limit: string }>(
        `SELECT 'balance' AS source, scope_key, spent_usd::text AS spent, reserved_usd::text AS reserved, limit_usd::text AS limit FROM budget_balances
         UNION ALL
         SELECT 'row', scope_key, spent_usd::text, reserved_usd::text, limit_usd::text FROM budgets`,
      );
      for (const row of rows) {
        if (new Decimal(row.spent).plus(row.reserved).greaterThan(row.limit)) violations.push(`${row.source} ${row.scope_key}: ${row.spent} + ${row.reserved} > ${row.limit}`);
      }
      samples++;
    }
    await client.end();
  })();
  return {
    async stop() {
      running = false;
      await done;
      return { samples, violations };
    },
  };
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

interface BudgetMoney {
  scope_key: string;
  limit: string;
  /** budget_balances */
  spent: string;
  reserved: string;
  /** the row itself */
  row_spent: string;
  row_reserved: string;
  /** sum of the ledger rows (llm_calls) this budget covers */
  ledger: string;
}

describe.each<{ mode: string; worker: SpendWorkerOptions; ownStatements?: boolean }>([
  // The default: concurrent calls of a process share one statement (group commit).
  { mode: 'grouped statements', worker: { poolMax: 5, maxInFlight: 1, maxGroup: 64 } },
  // Grouping off and bigger pools: every call is its own transaction, 48 racing at once.
  { mode: 'one transaction per call', worker: { poolMax: 12, maxInFlight: 12, maxGroup: 1 }, ownStatements: true },
])('spend ledger under concurrency (several OS processes, $mode)', ({ worker: workerOptions, ownStatements }) => {
  let db: ScratchDatabase;
  let prisma: PrismaService;
  let workers: SpendWorker[] = [];

  beforeAll(async () => {
    db = await createScratchDatabase(TEST_SERVER, MIGRATIONS, 'atelier_spend_race');
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 2 });
    workers = await Promise.all(Array.from({ length: WORKERS }, () => startSpendWorker(db.url, workerOptions)));
  }, 30_000);

  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await prisma?.$disconnect();
    await db?.drop();
  });

  afterEach(async () => {
    await prisma.$executeRawUnsafe(`TRUNCATE budgets, budget_alerts, budget_pending_settlements, spend_reservations, llm_calls CASCADE`);
  });

  async function newTask(tenantId: string) {
    const task = await prisma.task.create({ data: { tenantId, workflow: 'research-report', input: { goal: 'race' } } });
    const step = await prisma.step.create({ data: { taskId: task.id, key: 'investigate', kind: 'research.investigate', agent: 'research', input: {} } });
    return { tenantId, taskId: task.id, stepId: step.id };
  }

  /** Reserve statements run (fast, and exact where the fast one declined or is resting). */
  const reserveStatementsRun = async () =>
    (await Promise.all(workers.map((worker) => worker.statements()))).reduce(
      (sum, statements) => sum + (statements['atelier_spend_reserve_fast_v4'] ?? 0) + (statements['atelier_spend_reserve_v7'] ?? 0),
      0,
    );

  /** Deals the reservations round-robin to the workers and releases them all at once. */
  async function race(reservations: WorkerReservation[]): Promise<WorkerOutcome[]> {
    const before = await reserveStatementsRun();
    const hands = workers.map((_, index) => reservations.filter((__, i) => i % WORKERS === index));
    const outcomes = (await Promise.all(workers.map((worker, index) => worker.run({ op: 'reserve', reservations: hands[index] ?? [] })))).flat();
    // Grouping off means every reservation really had its own statement (and transaction);
    // grouped, the 300 share a few dozen.
    const statements = (await reserveStatementsRun()) - before;
    if (ownStatements) expect(statements).toBeGreaterThanOrEqual(reservations.length);
    else expect(statements).toBeLessThan(reservations.length / 2);
    return outcomes;
  }

  const reservation = (target: { tenantId: string; taskId: string; stepId: string }, settleUsd?: string): WorkerReservation => ({
    request: { attemptId: `${target.stepId}:1:${randomUUID()}:1`, target, amountUsd: X, model: 'claude-haiku-5-5', attempt: 1 },
    ...(settleUsd ? { settleUsd } : {}),
  });

  /** Every budget's money three ways: exact (budget_balances), its row, and its ledger rows. */
  const budgetsAndLedger = () =>
    prisma.$queryRawUnsafe<BudgetMoney[]>(
      `SELECT n.scope_key, n.limit_usd::text AS limit, n.spent_usd::text AS spent, n.reserved_usd::text AS reserved,
              b.spent_usd::text AS row_spent, b.reserved_usd::text AS row_reserved,
              COALESCE((SELECT sum(c.cost_usd) FROM llm_calls c
                         WHERE n.scope = 'global' OR (n.scope = 'tenant' AND c.tenant_id = n.tenant_id) OR (n.scope = 'task' AND c.task_id = n.task_id)), 0)::text AS ledger
         FROM budget_balances n JOIN budgets b ON b.id = n.id`,
    );

  /** Exact at once from the balances; equal on the rows too once the pending settlements are folded in. */
  async function expectBudgetsEqualLedger(): Promise<BudgetMoney[]> {
    const exact = await budgetsAndLedger();
    for (const budget of exact) {
      expect({ key: budget.scope_key, spent: new Decimal(budget.spent).toFixed(), reserved: new Decimal(budget.reserved).toFixed() }).toEqual({
        key: budget.scope_key,
        spent: new Decimal(budget.ledger).toFixed(),
        reserved: '0',
      });
    }
    await new SpendLedger(prisma.pool).foldSettlements();
    for (const budget of await budgetsAndLedger()) {
      expect({ key: budget.scope_key, spent: new Decimal(budget.row_spent).toFixed(), reserved: new Decimal(budget.row_reserved).toFixed() }).toEqual({
        key: budget.scope_key,
        spent: new Decimal(budget.ledger).toFixed(),
        reserved: '0',
      });
    }
    return exact;
  }

  it('grants exactly 100 of 300 concurrent $x reservations against a 100·x cap, and spent equals the ledger exactly', async () => {
    const tenant = await prisma.tenant.create({ data: { name: `race-${randomUUID().slice(0, 8)}` } });
    const target = await newTask(tenant.id);
    const limit = x.times(100);
    await prisma.budget.create({ data: { scope: 'GLOBAL', scopeKey: 'global', period: 'TOTAL', limitUsd: limit.toFixed() } });

    const sampler = startSampler(db.url);
    const outcomes = await race(Array.from({ length: 300 }, () => reservation(target)));
    expect(outcomes.filter((o) => o.error)).toEqual([]);
    const granted = outcomes.filter((o) => o.granted);
    expect(granted).toHaveLength(100);

    // Settle each at a different awkward fraction of x (12-decimal amounts: float would drift).
    const costs = granted.map((o, i) => ({ attemptId: o.attemptId, costUsd: x.times(i % 7).dividedBy(7).toFixed(20) }));
    const settled = (
      await Promise.all(workers.map((worker, w) => worker.run({ op: 'settle', settlements: costs.filter((_, i) => i % WORKERS === w) })))
    ).flat();
    expect(settled.filter((o) => !o.settled)).toEqual([]);
    const { samples, violations } = await sampler.stop();
    expect(violations).toEqual([]);
    expect(samples).toBeGreaterThan(10);

    const [global] = await expectBudgetsEqualLedger();
    const expected = costs.reduce((sum, cost) => sum.plus(toLedgerAmount(cost.costUsd)), new Decimal(0));
    expect(new Decimal(global!.spent).equals(expected)).toBe(true);
    expect(new Decimal(global!.spent).lessThanOrEqualTo(limit)).toBe(true);
    expect(await prisma.llmCall.count()).toBe(100);
  }, 60_000);

  it('holds global, tenant and task caps at once under random arrival: each binds, none refuses while it has room, none overspends', async () => {
    // 3 tenants × 5 tasks × 20 calls = 300 calls of $x, each settled at once at its full
    // amount (so a budget only fills up, and one that refused a call is full from then on):
    //  - tenant A's cap (8x) is below the sum of its tasks' (5 × 8x): the tenant binds;
    //  - tenant B's tasks have small caps (2x): the task budgets bind;
    //  - tenant C is capped only by the global budget;
    //  - the global cap (60x) is below what the tenants could take (8x + 10x + 100x), so
    //    it always ends full, and C's calls are refused by it alone. Before the global
    //    cap can fill, C must take 42 grants, long after A's 8th and B's tasks' 2nd calls
    //    have arrived in any plausible order.
    await prisma.budget.create({ data: { scope: 'GLOBAL', scopeKey: 'global', period: 'TOTAL', limitUsd: x.times(60).toFixed() } });
    const plan = { a: { tenant: 8, task: 8 }, b: { tenant: 100_000, task: 2 }, c: { tenant: 100_000, task: 100_000 } };
    const reservations: WorkerReservation[] = [];
    const keys: Record<string, string[]> = { a: [], b: [], c: [] };
    for (const [name, caps] of Object.entries(plan)) {
      const tenant = await prisma.tenant.create({ data: { name: `race-${name}-${randomUUID().slice(0, 8)}` } });
      await prisma.budget.create({ data: { scope: 'TENANT', scopeKey: `tenant:${tenant.id}`, tenantId: tenant.id, period: 'DAY', limitUsd: x.times(caps.tenant).toFixed() } });
      keys[name]!.push(`tenant:${tenant.id}`);
      for (let k = 0; k < 5; k++) {
        const target = await newTask(tenant.id);
        await prisma.budget.create({ data: { scope: 'TASK', scopeKey: `task:${target.taskId}`, tenantId: tenant.id, taskId: target.taskId, period: 'TOTAL', limitUsd: x.times(caps.task).toFixed() } });
        keys[name]!.push(`task:${target.taskId}`);
        for (let c = 0; c < 20; c++) reservations.push(reservation(target, X));
      }
    }

    const sampler = startSampler(db.url);
    const outcomes = await race(shuffle(reservations));
    const { samples, violations } = await sampler.stop();
    expect(outcomes.filter((o) => o.error)).toEqual([]);
    expect(violations).toEqual([]);
    expect(samples).toBeGreaterThan(10);
    expect(outcomes.filter((o) => o.granted && !o.settled)).toEqual([]);

    const budgets = await expectBudgetsEqualLedger();
    expect(budgets).toHaveLength(1 + 3 + 15);
    const full = new Set(budgets.filter((b) => new Decimal(b.spent).equals(b.limit)).map((b) => b.scope_key));
    for (const budget of budgets) expect(new Decimal(budget.spent).lessThanOrEqualTo(budget.limit)).toBe(true);

    // Each refusal names the budgets that could not take it, and each of those is full:
    // nothing was refused while it had room (a budget below its cap refused nothing).
    const denied = outcomes.filter((o) => !o.granted);
    expect(denied).toHaveLength(300 - outcomes.filter((o) => o.granted).length);
    for (const refusal of denied) {
      expect(refusal.blocking?.length).toBeGreaterThan(0);
      for (const key of refusal.blocking ?? []) expect({ key, full: full.has(key) }).toEqual({ key, full: true });
    }

    // Every level bound: it ended full and refused calls.
    const refusedBy = new Set(denied.flatMap((refusal) => refusal.blocking ?? []));
    expect(full.has('global') && refusedBy.has('global')).toBe(true);
    expect(new Decimal(budgets.find((b) => b.scope_key === 'global')!.spent).equals(x.times(60))).toBe(true);
    const tenantA = keys['a']![0]!;
    expect(full.has(tenantA) && refusedBy.has(tenantA)).toBe(true);
    expect(keys['b']!.slice(1).some((task) => full.has(task) && refusedBy.has(task))).toBe(true);
    // Tenant C's calls were only ever refused by the global cap.
    const cKeys = new Set(keys['c']);
    expect(denied.filter((refusal) => refusal.blocking?.some((key) => cKeys.has(key)))).toEqual([]);
  }, 60_000);
});
