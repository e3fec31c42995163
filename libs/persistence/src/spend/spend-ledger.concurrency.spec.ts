import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Decimal from 'decimal.js';
import { Client } from 'pg';
import { createPrismaClient, type PrismaService } from '../prisma.service';
import { createScratchDatabase, type ScratchDatabase } from '../database-bootstrap';
import { toLedgerAmount } from './spend-ledger';
import type { WorkerOutcome, WorkerReservation } from './spend-worker';
import { type SpendWorker, startSpendWorker } from './spend-worker-process';

// Persistence's own specs stay off @atelier/testing (which is built on this library).
const TEST_SERVER = process.env['TEST_DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const MIGRATIONS = join(__dirname, '..', '..', '..', '..', 'prisma', 'migrations');

// The hard-cap proof: reservations race from several OS processes (each with its own
// connection pool) against real Postgres, while a sampler reads the budget rows the
// whole time. A cap is a ceiling at every instant, and the money adds up to the cent.

const WORKERS = 4;
const X = '0.000123456789';

/** Reads every budget row in a loop; any row with spent + reserved > limit is a violation. */
function startSampler(url: string) {
  const client = new Client({ connectionString: url });
  let running = true;
  let samples = 0;
  const violations: string[] = [];
  const done = (async () => {
    await client.connect();
    while (running) {
      const { rows } = await client.query<{ scope_key: string; spent: string; reserved: string; limit: string }>(
        'SELECT scope_key, spent_usd::text AS spent, reserved_usd::text AS reserved, limit_usd::text AS limit FROM budgets',
      );
      for (const row of rows) {
        if (new Decimal(row.spent).plus(row.reserved).greaterThan(row.limit)) violations.push(`${row.scope_key}: ${row.spent} + ${row.reserved} > ${row.limit}`);
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

describe('spend ledger under concurrency (several OS processes)', () => {
  let db: ScratchDatabase;
  let prisma: PrismaService;
  let workers: SpendWorker[] = [];

  beforeAll(async () => {
    db = await createScratchDatabase(TEST_SERVER, MIGRATIONS, 'atelier_spend_race');
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 2 });
    workers = await Promise.all(Array.from({ length: WORKERS }, () => startSpendWorker(db.url, 5)));
  }, 30_000);

  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await prisma?.$disconnect();
    await db?.drop();
  });

  afterEach(async () => {
    await prisma.$executeRawUnsafe(`TRUNCATE budgets, budget_alerts, spend_reservations, llm_calls CASCADE`);
  });

  async function newTask(tenantId: string) {
    const task = await prisma.task.create({ data: { tenantId, workflow: 'research-report', input: { goal: 'race' } } });
    const step = await prisma.step.create({ data: { taskId: task.id, key: 'investigate', kind: 'research.investigate', agent: 'research', input: {} } });
    return { tenantId, taskId: task.id, stepId: step.id };
  }

  /** Deals the reservations round-robin to the workers and releases them all at once. */
  async function race(reservations: WorkerReservation[]): Promise<WorkerOutcome[]> {
    const hands = workers.map((_, index) => reservations.filter((__, i) => i % WORKERS === index));
    return (await Promise.all(workers.map((worker, index) => worker.run({ op: 'reserve', reservations: hands[index] ?? [] })))).flat();
  }

  const reservation = (target: { tenantId: string; taskId: string; stepId: string }, settleUsd?: string): WorkerReservation => ({
    request: { attemptId: `${target.stepId}:1:${randomUUID()}:1`, target, amountUsd: X, model: 'claude-haiku-5-5', attempt: 1 },
    ...(settleUsd ? { settleUsd } : {}),
  });

  it('grants exactly 100 of 300 concurrent $x reservations against a 100·x cap, and spent equals the ledger exactly', async () => {
    const tenant = await prisma.tenant.create({ data: { name: `race-${randomUUID().slice(0, 8)}` } });
    const target = await newTask(tenant.id);
    const limit = new Decimal(X).times(100);
    await prisma.budget.create({ data: { scope: 'GLOBAL', scopeKey: 'global', period: 'TOTAL', limitUsd: limit.toFixed() } });

    const sampler = startSampler(db.url);
    const outcomes = await race(Array.from({ length: 300 }, () => reservation(target)));
    expect(outcomes.filter((o) => o.error)).toEqual([]);
    const granted = outcomes.filter((o) => o.granted);
    expect(granted).toHaveLength(100);

    // Settle each at a different awkward fraction of x (12-decimal amounts: float would drift).
    const costs = granted.map((o, i) => ({ attemptId: o.attemptId, costUsd: new Decimal(X).times(i % 7).dividedBy(7).toFixed(20) }));
    const settled = (
      await Promise.all(workers.map((worker, w) => worker.run({ op: 'settle', settlements: costs.filter((_, i) => i % WORKERS === w) })))
    ).flat();
    expect(settled.filter((o) => !o.settled)).toEqual([]);
    const { samples, violations } = await sampler.stop();
    expect(violations).toEqual([]);
    expect(samples).toBeGreaterThan(10);

    const [row] = await prisma.$queryRawUnsafe<{ spent: string; reserved: string; ledger: string; calls: number }[]>(
      `SELECT b.spent_usd::text AS spent, b.reserved_usd::text AS reserved,
              (SELECT sum(cost_usd)::text FROM llm_calls) AS ledger, (SELECT count(*)::int FROM llm_calls) AS calls
         FROM budgets b WHERE scope_key = 'global'`,
    );
    expect(row!.calls).toBe(100);
    expect(new Decimal(row!.reserved).isZero()).toBe(true);
    expect(row!.spent).toBe(row!.ledger);
    const expected = costs.reduce((sum, cost) => sum.plus(toLedgerAmount(cost.costUsd)), new Decimal(0));
    expect(new Decimal(row!.spent).equals(expected)).toBe(true);
    expect(new Decimal(row!.spent).lessThanOrEqualTo(limit)).toBe(true);
  }, 45_000);

  it('holds global, tenant and task caps at once under random arrival, without deadlock or overspend on any', async () => {
    // 3 tenants × 5 tasks × 20 calls = 300 calls of $x. Task caps (15x) and tenant caps
    // (60x) bind for their own calls, yet each tenant could spend 75x from its tasks: so
    // the global cap (100x) must be the one that ends it, at exactly 100 grants.
    const x = new Decimal(X);
    await prisma.budget.create({ data: { scope: 'GLOBAL', scopeKey: 'global', period: 'TOTAL', limitUsd: x.times(100).toFixed() } });
    const reservations: WorkerReservation[] = [];
    for (let t = 0; t < 3; t++) {
      const tenant = await prisma.tenant.create({ data: { name: `race-${randomUUID().slice(0, 8)}` } });
      await prisma.budget.create({ data: { scope: 'TENANT', scopeKey: `tenant:${tenant.id}`, tenantId: tenant.id, period: 'DAY', limitUsd: x.times(60).toFixed() } });
      for (let k = 0; k < 5; k++) {
        const target = await newTask(tenant.id);
        await prisma.budget.create({ data: { scope: 'TASK', scopeKey: `task:${target.taskId}`, tenantId: tenant.id, taskId: target.taskId, period: 'TOTAL', limitUsd: x.times(15).toFixed() } });
        // Each granted call settles straight away at its full amount, interleaving
        // settlements (which lock the same rows) with the reservations still racing.
        for (let c = 0; c < 20; c++) reservations.push(reservation(target, X));
      }
    }

    const sampler = startSampler(db.url);
    const outcomes = await race(shuffle(reservations));
    const { samples, violations } = await sampler.stop();
    expect(outcomes.filter((o) => o.error)).toEqual([]);
    expect(violations).toEqual([]);
    expect(samples).toBeGreaterThan(10);
    expect(outcomes.filter((o) => o.granted)).toHaveLength(100);
    expect(outcomes.filter((o) => o.granted && !o.settled)).toEqual([]);

    const budgets = await prisma.$queryRawUnsafe<{ scope_key: string; spent: string; reserved: string; limit: string; ledger: string | null }[]>(
      `SELECT b.scope_key, b.spent_usd::text AS spent, b.reserved_usd::text AS reserved, b.limit_usd::text AS limit,
              (SELECT sum(c.cost_usd)::text FROM llm_calls c
                WHERE b.scope = 'global' OR (b.scope = 'tenant' AND c.tenant_id = b.tenant_id) OR (b.scope = 'task' AND c.task_id = b.task_id)) AS ledger
         FROM budgets b`,
    );
    expect(budgets).toHaveLength(1 + 3 + 15);
    for (const budget of budgets) {
      expect({ key: budget.scope_key, reserved: new Decimal(budget.reserved).isZero() }).toEqual({ key: budget.scope_key, reserved: true });
      expect({ key: budget.scope_key, spent: new Decimal(budget.spent).toFixed() }).toEqual({ key: budget.scope_key, spent: new Decimal(budget.ledger ?? 0).toFixed() });
      expect(new Decimal(budget.spent).lessThanOrEqualTo(budget.limit)).toBe(true);
    }
    expect(new Decimal(budgets.find((b) => b.scope_key === 'global')!.spent).equals(x.times(100))).toBe(true);
  }, 45_000);
});
