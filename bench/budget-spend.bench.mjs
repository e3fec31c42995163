// Reservation + settlement throughput and latency under 200 concurrent callers.
//
//   npm run bench:budget                       # every scenario, 15 s each, 4 processes
//   npm run bench:budget -- --scenario llm-paced --workers 1 --think 180   # the issue 3 target run
//   npm run bench:budget -- --seconds 30 --workers 4 --callers 200 --in-flight 1 --history 200000
//
// Callers are spread over several OS processes (like agent replicas), each with its own
// connection pool, against a scratch database on the local Postgres. Every call holds
// three budgets (global, tenant, task), as a real model call does. Scenarios:
//  - "llm-paced": each caller reserves, waits --think ms (the model call), settles;
//  - "saturated": no wait, every caller hammers the ledger (the ceiling).
// A sampler reads every budget the callers hold throughout (its exact money and its row)
// and counts any with spent + reserved > limit; at the end each of them must have spent
// exactly its ledger rows, as read and again once settlements are folded into the rows.
// The ledger starts with history, analyzed, as a running installation's does:
// --history-tasks finished tasks with their budgets and --history settled calls.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { createPrismaClient, createScratchDatabase, SpendLedger } = require(join(root, 'dist/libs/persistence/src/index.js'));
const { startSpendWorker } = require(join(root, 'dist/libs/persistence/src/spend/spend-worker-process.js'));
const { Client } = require('pg');
const Decimal = require('decimal.js');

const { values: args } = parseArgs({
  options: {
    callers: { type: 'string', default: '200' },
    workers: { type: 'string', default: '4' },
    pool: { type: 'string', default: '6' },
    'in-flight': { type: 'string', default: '1' },
    group: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '15' },
    think: { type: 'string', default: '100' },
    // Think times are drawn from think × (1 ± this): model calls do not all take the same time (0: every caller in step).
    'think-jitter': { type: 'string', default: '0.5' },
    // Seconds before measuring starts (connections, prepared statements, JIT); not counted.
    warmup: { type: 'string', default: '2' },
    scenario: { type: 'string', default: 'all' },
    // ledger | commit | select | none: the harness floors replace each ledger call (see spend-worker.ts)
    mode: { type: 'string', default: 'ledger' },
    // Finished tasks (each with its step and task budget) and settled calls over them,
    // already in the ledger before the run: a production ledger is never empty.
    'history-tasks': { type: 'string', default: '20000' },
    history: { type: 'string', default: '200000' },
    // Pause between the overspend sampler's reads. Each read sums every budget's pending
    // settlements and reads pg_stat_activity: at 25 ms it took 15-25 % of a core itself
    // (pg_stat_statements: 3.7-5.8 ms a read), next to the ledger it measures.
    'sample-ms': { type: 'string', default: '100' },
  },
});
const CALLERS = Number(args.callers);
const WARMUP_SECONDS = Number(args.warmup);
const WORKERS = Number(args.workers);
const HISTORY = { tasks: Number(args['history-tasks']), rows: Number(args.history) };
const SAMPLE_MS = Number(args['sample-ms']);
const AMOUNT = '0.002';
const COST = '0.000734567891';

const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] : NaN);
const fmt = (ms) => (Number.isNaN(ms) ? '–' : ms.toFixed(2));

/** The budgets the callers hold (global, their tenants', their tasks'), not the history's: SQL over budgets `n`, their ids in $1. */
const IN_PLAY = `n.id = ANY($1::uuid[])`;

function startSampler(url, budgetIds) {
  const client = new Client({ connectionString: url });
  let running = true;
  let samples = 0;
  let violations = 0;
  // What the database's active backends were doing at each sample (pg_stat_activity):
  // lock waits on the budget rows show as Lock/transactionid or Lock/tuple, WAL flushes
  // as IO/WALSync or LWLock/WALWrite, a backend on CPU (or waiting for one) as "running".
  const activity = new Map();
  const done = (async () => {
    await client.connect();
    while (running) {
      // The exact money (budget_balances) and the rows themselves (which may only over-state), in one snapshot.
      const { rows } = await client.query(
        `SELECT (spent_usd + reserved_usd > limit_usd) AS over FROM budget_balances n WHERE ${IN_PLAY}
         UNION ALL SELECT (spent_usd + reserved_usd > limit_usd) FROM budgets n WHERE ${IN_PLAY}`,
        [budgetIds],
      );
      violations += rows.filter((row) => row.over).length;
      const waits = await client.query(
        `SELECT COALESCE(wait_event_type || '/' || wait_event, 'running') AS what, count(*)::int AS n
           FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid() GROUP BY 1`,
      );
      for (const row of waits.rows) activity.set(row.what, (activity.get(row.what) ?? 0) + row.n);
      samples++;
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    }
    await client.end();
  })();
  return async () => {
    running = false;
    await done;
    const total = [...activity.values()].reduce((a, b) => a + b, 0);
    const top = [...activity.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6);
    return { samples, violations, activeBackends: (total / Math.max(1, samples)).toFixed(1), waits: Object.fromEntries(top.map(([what, n]) => [what, `${Math.round((100 * n) / total)}%`])) };
  };
}

/** The callers' targets and the ids of the budgets they hold (global, 4 tenants', 100 tasks'). */
async function setUp(prisma, globalLimit) {
  const budget = async (data) => (await prisma.budget.create({ data })).id;
  const budgetIds = [await budget({ scope: 'GLOBAL', scopeKey: 'global', period: 'MONTH', limitUsd: globalLimit })];
  const targets = [];
  for (let t = 0; t < 4; t++) {
    const tenant = await prisma.tenant.create({ data: { name: `bench-${t}-${Date.now()}` } });
    budgetIds.push(await budget({ scope: 'TENANT', scopeKey: `tenant:${tenant.id}`, tenantId: tenant.id, period: 'DAY', limitUsd: '1000000' }));
    for (let k = 0; k < 25; k++) {
      const task = await prisma.task.create({ data: { tenantId: tenant.id, workflow: 'research-report', input: { goal: 'bench' } } });
      const step = await prisma.step.create({ data: { taskId: task.id, key: 'investigate', kind: 'research.investigate', agent: 'research', input: {} } });
      budgetIds.push(await budget({ scope: 'TASK', scopeKey: `task:${task.id}`, tenantId: tenant.id, taskId: task.id, period: 'TOTAL', limitUsd: '1000000' }));
      targets.push({ tenantId: tenant.id, taskId: task.id, stepId: step.id });
    }
  }
  return { targets, budgetIds };
}

/**
 * A ledger with history, as in production: `tasks` finished tasks, each with its step and
 * its task budget (a task's budgetUsd creates one), `rows` settled reservations and their
 * llm_calls rows spread over them, then ANALYZE (autovacuum's job in production). On
 * tables of a few dozen rows the planner sizes them at a page or two, and every prepared
 * statement (the ledger's, and the foreign-key checks') keeps a sequential-scan plan for
 * the connection's life, re-reading every row version of the hot budget rows on each
 * call: the run would measure plans that a running installation does not have.
 */
async function seedHistory(prisma, targets, { tasks, rows }) {
  const tenants = `ARRAY[${[...new Set(targets.map((t) => `'${t.tenantId}'`))].join(',')}]::uuid[]`;
  await prisma.$executeRawUnsafe(`
    WITH t AS (
           INSERT INTO tasks (tenant_id, workflow, status, input, created_at, updated_at, completed_at)
           SELECT (${tenants})[1 + g % cardinality(${tenants})], 'research-report', 'completed', '{"goal":"history"}', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
             FROM generate_series(1, ${tasks}) g
           RETURNING id, tenant_id),
         b AS (
           INSERT INTO budgets (scope, scope_key, tenant_id, task_id, period, limit_usd)
           SELECT 'task', 'task:' || t.id, t.tenant_id, t.id, 'total', 1 FROM t RETURNING id)
    INSERT INTO steps (task_id, key, kind, agent, status, input, completed_at)
    SELECT t.id, 'investigate', 'research.investigate', 'research', 'completed', '{}', now() - interval '1 day' FROM t`);
  await prisma.$executeRawUnsafe(`
    WITH h AS MATERIALIZED (SELECT array_agg(id) AS ids FROM steps WHERE status = 'completed'),
         s AS (SELECT g, st.id AS step_id, st.task_id, t.tenant_id
                 FROM h CROSS JOIN generate_series(1, ${rows}) g
                 JOIN steps st ON st.id = h.ids[1 + g % cardinality(h.ids)]
                 JOIN tasks t ON t.id = st.task_id),
         r AS (
           INSERT INTO spend_reservations (attempt_id, step_id, task_id, tenant_id, budget_ids, amount_usd, settled_usd, state, expires_at, created_at, settled_at, model, attempt, actor)
           SELECT 'history:' || s.g, s.step_id, s.task_id, s.tenant_id, '{}', 0.002, 0.0007, 'settled', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', 'claude-haiku-5-5', 1, 'service:bench'
             FROM s
           RETURNING attempt_id, step_id, task_id, tenant_id)
    INSERT INTO llm_calls (attempt_id, step_id, task_id, tenant_id, model, attempt, cost_usd, reserved_usd, latency_ms, outcome, created_at)
    SELECT attempt_id, step_id, task_id, tenant_id, 'claude-haiku-5-5', 1, 0.0007, 0.002, 100, 'success', now() - interval '1 day' FROM r`);
  await prisma.$executeRawUnsafe('ANALYZE');
}

/** Every budget's exact money (budget_balances) against its ledger rows; then the rows themselves, once the settlements are folded in. */
async function reconcile(prisma, budgetIds) {
  const read = () =>
    prisma.$queryRawUnsafe(
      `SELECT n.scope_key, n.spent_usd::text AS spent, n.reserved_usd::text AS reserved, n.limit_usd::text AS limit,
              b.spent_usd::text AS row_spent, b.reserved_usd::text AS row_reserved,
              COALESCE((SELECT sum(c.cost_usd) FROM llm_calls c
                 WHERE c.attempt_id NOT LIKE 'history:%' AND (n.scope = 'global' OR (n.scope = 'tenant' AND c.tenant_id = n.tenant_id) OR (n.scope = 'task' AND c.task_id = n.task_id))), 0)::text AS ledger
         FROM budget_balances n JOIN budgets b ON b.id = n.id
        WHERE ${IN_PLAY}`,
      budgetIds,
    );
  const off = (spent, reserved, row) => !new Decimal(spent).equals(row.ledger) || !new Decimal(reserved).isZero() || new Decimal(spent).greaterThan(row.limit);
  const exact = await read();
  const mismatched = exact.filter((row) => off(row.spent, row.reserved, row));
  await new SpendLedger(prisma.pool).foldSettlements();
  const folded = (await read()).filter((row) => off(row.row_spent, row.row_reserved, row));
  return { budgets: exact.length, mismatched: mismatched.length + folded.length, globalSpent: exact.find((row) => row.scope_key === 'global').spent };
}

async function scenario(name, { thinkMs, seconds, globalLimit, warmupSeconds = WARMUP_SECONDS }) {
  const db = await createScratchDatabase(process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres', join(root, 'prisma', 'migrations'), 'atelier_bench');
  const prisma = createPrismaClient({ connectionString: db.url, poolMax: 2 });
  const workers = [];
  try {
    const { targets, budgetIds } = await setUp(prisma, globalLimit);
    await seedHistory(prisma, targets, HISTORY);
    for (let w = 0; w < WORKERS; w++) workers.push(await startSpendWorker(db.url, { poolMax: Number(args.pool), maxInFlight: Number(args['in-flight']), maxGroup: Number(args.group) }));
    const stopSampler = startSampler(db.url, budgetIds);
    // The orchestrator's ledger housekeeping, at its default interval (SPEND_SWEEP_INTERVAL_MS).
    const housekeeping = setInterval(() => void new SpendLedger(prisma.pool).foldSettlements().catch((error) => console.error(`housekeeping: ${error.message}`)), 5_000);
    const started = Date.now();
    const perWorker = Math.ceil(CALLERS / WORKERS);
    const reports = await Promise.all(
      workers.map((worker, w) =>
        worker.bench({
          mode: args.mode,
          callers: Math.min(perWorker, CALLERS - w * perWorker),
          durationMs: seconds * 1000,
          warmupMs: warmupSeconds * 1000,
          thinkMs,
          thinkJitter: Number(args['think-jitter']),
          targets,
          amountUsd: AMOUNT,
          costUsd: COST,
        }),
      ),
    );
    const elapsed = (Date.now() - started) / 1000 - warmupSeconds;
    clearInterval(housekeeping);
    const sampled = await stopSampler();
    const reserve = reports.flatMap((r) => r.reserveMs).sort((a, b) => a - b);
    const settle = reports.flatMap((r) => r.settleMs).sort((a, b) => a - b);
    const pairs = reports.reduce((sum, r) => sum + r.pairs, 0);
    const denied = reports.reduce((sum, r) => sum + r.denied, 0);
    const errors = reports.flatMap((r) => r.errors);
    const ledger = await reconcile(prisma, budgetIds);
    return {
      name,
      mode: args.mode,
      thinkMs,
      thinkJitter: Number(args['think-jitter']),
      callers: CALLERS,
      workers: WORKERS,
      inFlight: Number(args['in-flight']),
      seconds: elapsed.toFixed(1),
      pairsPerSecond: (pairs / elapsed).toFixed(0),
      reserve: { p50: fmt(percentile(reserve, 0.5)), p99: fmt(percentile(reserve, 0.99)) },
      settle: { p50: fmt(percentile(settle, 0.5)), p99: fmt(percentile(settle, 0.99)) },
      pairs,
      denied,
      errors: errors.length ? [...new Set(errors)].join(', ') : 0,
      overspendSamples: `${sampled.violations} of ${sampled.samples}`,
      activeBackends: sampled.activeBackends,
      waits: sampled.waits,
      ledger: `${ledger.budgets - ledger.mismatched}/${ledger.budgets} budgets = ledger, global spent ${ledger.globalSpent}`,
    };
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await prisma.$disconnect();
    await db.drop();
  }
}

const seconds = Number(args.seconds);
const plans = {
  'llm-paced': { thinkMs: Number(args.think), seconds, globalLimit: '1000000' },
  saturated: { thinkMs: 0, seconds, globalLimit: '1000000' },
  // The global cap runs out mid-run: denials under full contention must still never overspend.
  // Measured from the start: the cap runs out within the first second.
  exhausted: { thinkMs: 0, seconds: Math.min(seconds, 5), globalLimit: new Decimal(AMOUNT).times(400).toFixed(), warmupSeconds: 0 },
};
for (const [name, plan] of Object.entries(plans)) {
  if (args.scenario !== 'all' && args.scenario !== name) continue;
  console.log(JSON.stringify(await scenario(name, plan)));
}
