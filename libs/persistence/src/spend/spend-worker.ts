import { createInterface } from 'node:readline';
import { createPrismaClient } from '../prisma.service';
import { type ReserveRequest, SpendLedger, type SpendTarget, type SqlPool } from './spend-ledger';

// An OS process that runs spend-ledger operations, for the concurrency proof
// (spend-ledger.concurrency.spec.ts) and the benchmark (bench/budget-spend.mjs); started
// by startSpendWorker, not part of the library's API. It reads one JSON command per stdin
// line and answers one JSON line on stdout, so several workers can be released at once.

export interface WorkerReservation {
  request: Omit<ReserveRequest, 'ttlMs' | 'actor'> & { ttlMs?: number };
  /** Settle right after a granted reservation, at this cost. */
  settleUsd?: string;
}

/** Closed-loop load for the benchmark: each caller reserves, waits `thinkMs` (the model call), settles, and again. */
export interface BenchLoad {
  /**
   * `ledger`: reserve and settle. The harness floors, with the same callers, processes
   * and pacing: `commit` runs a statement that commits with a WAL flush in place of each
   * ledger call, `select` runs `SELECT 1`, `none` only yields to the event loop.
   */
  mode?: 'ledger' | 'commit' | 'select' | 'none';
  callers: number;
  durationMs: number;
  thinkMs: number;
  targets: SpendTarget[];
  amountUsd: string;
  costUsd: string;
}

export interface BenchReport {
  reserveMs: number[];
  settleMs: number[];
  pairs: number;
  denied: number;
  errors: string[];
}

export type WorkerCommand =
  | { op: 'reserve'; reservations: WorkerReservation[] }
  | { op: 'settle'; settlements: { attemptId: string; costUsd: string }[] }
  | { op: 'bench'; load: BenchLoad }
  /** How many statements of each kind the worker's ledger has run. */
  | { op: 'stats' }
  | { op: 'exit' };

export interface WorkerOutcome {
  attemptId: string;
  granted?: boolean;
  /** The scope keys of the budgets that refused it. */
  blocking?: string[];
  settled?: boolean;
  /** Postgres error code or message when an operation failed (a deadlock would show here as 40P01). */
  error?: string;
}

async function main(): Promise<void> {
  const url = process.env['DATABASE_URL'];
  if (!url) throw new Error('DATABASE_URL is required');
  const prisma = createPrismaClient({ connectionString: url, poolMax: Number(process.env['POOL_MAX'] ?? 5) });
  await prisma.$connect();
  const statements: Record<string, number> = {};
  const counted: SqlPool = {
    query: (config) => {
      statements[String(config.name)] = (statements[String(config.name)] ?? 0) + 1;
      return prisma.pool.query(config);
    },
  };
  const ledger = new SpendLedger(counted, undefined, { maxInFlight: Number(process.env['MAX_IN_FLIGHT'] ?? 1), maxGroup: Number(process.env['MAX_GROUP'] ?? 64) });
  const reply = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`);
  const failure = (error: unknown) => String((error as { code?: string; message?: string }).code ?? (error as Error).message);

  reply({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line) as WorkerCommand;
    if (command.op === 'exit') break;
    if (command.op === 'stats') {
      reply({ op: 'stats', statements });
    } else if (command.op === 'bench') {
      reply({ op: 'bench', report: await bench(ledger, prisma.pool, command.load) });
    } else if (command.op === 'reserve') {
      const outcomes = await Promise.all(
        command.reservations.map(async ({ request, settleUsd }): Promise<WorkerOutcome> => {
          try {
            const result = await ledger.reserve({ ttlMs: 60_000, actor: 'service:spend-worker', ...request });
            if (!result.granted) return { attemptId: request.attemptId, granted: false, blocking: result.blocking.map((budget) => budget.scopeKey) };
            if (settleUsd === undefined) return { attemptId: request.attemptId, granted: true };
            const settled = await ledger.settle({ attemptId: request.attemptId, outcome: 'success', costUsd: settleUsd });
            return { attemptId: request.attemptId, granted: true, settled: settled.settled };
          } catch (error) {
            return { attemptId: request.attemptId, error: failure(error) };
          }
        }),
      );
      reply({ op: 'reserve', outcomes });
    } else {
      const outcomes = await Promise.all(
        command.settlements.map(async ({ attemptId, costUsd }): Promise<WorkerOutcome> => {
          try {
            return { attemptId, settled: (await ledger.settle({ attemptId, outcome: 'success', costUsd })).settled };
          } catch (error) {
            return { attemptId, error: failure(error) };
          }
        }),
      );
      reply({ op: 'settle', outcomes });
    }
  }
  await prisma.$disconnect();
}

/** What stands in for reserve and settle when measuring the harness floor. */
function floorCall(pool: SqlPool, mode: Exclude<BenchLoad['mode'], 'ledger' | undefined>): () => Promise<unknown> {
  if (mode === 'none') return () => new Promise(setImmediate);
  const statement = mode === 'commit' ? { name: 'bench_floor_commit', text: 'SELECT pg_current_xact_id()::text' } : { name: 'bench_floor_select', text: 'SELECT 1' };
  return () => pool.query(statement);
}

async function bench(ledger: SpendLedger, pool: SqlPool, load: BenchLoad): Promise<BenchReport> {
  if (load.mode && load.mode !== 'ledger') return benchFloor(floorCall(pool, load.mode), load);
  const report: BenchReport = { reserveMs: [], settleMs: [], pairs: 0, denied: 0, errors: [] };
  const until = Date.now() + load.durationMs;
  const caller = async (index: number) => {
    for (let n = 0; Date.now() < until; n++) {
      const target = load.targets[(index + n) % load.targets.length] as SpendTarget;
      const attemptId = `${target.stepId}:${process.pid}:${index}:${n}`;
      try {
        let started = performance.now();
        const result = await ledger.reserve({ attemptId, target, amountUsd: load.amountUsd, ttlMs: 60_000, model: 'claude-haiku-5-5', attempt: 1, actor: 'service:bench' });
        report.reserveMs.push(performance.now() - started);
        if (!result.granted) {
          report.denied++;
          continue;
        }
        if (load.thinkMs > 0) await new Promise((resolve) => setTimeout(resolve, load.thinkMs));
        started = performance.now();
        await ledger.settle({ attemptId, outcome: 'success', costUsd: load.costUsd, usage: { inputTokens: 100, outputTokens: 50, cacheCreationInputTokens: 0, cacheCreation1hInputTokens: 0, cacheReadInputTokens: 0 }, latencyMs: load.thinkMs });
        report.settleMs.push(performance.now() - started);
        report.pairs++;
      } catch (error) {
        report.errors.push(String((error as { code?: string }).code ?? (error as Error).message));
      }
    }
  };
  await Promise.all(Array.from({ length: load.callers }, (_, index) => caller(index)));
  return report;
}

async function benchFloor(call: () => Promise<unknown>, load: BenchLoad): Promise<BenchReport> {
  const report: BenchReport = { reserveMs: [], settleMs: [], pairs: 0, denied: 0, errors: [] };
  const until = Date.now() + load.durationMs;
  const timed = async (into: number[]) => {
    const started = performance.now();
    await call();
    into.push(performance.now() - started);
  };
  const caller = async () => {
    while (Date.now() < until) {
      try {
        await timed(report.reserveMs);
        if (load.thinkMs > 0) await new Promise((resolve) => setTimeout(resolve, load.thinkMs));
        await timed(report.settleMs);
        report.pairs++;
      } catch (error) {
        report.errors.push(String((error as { code?: string }).code ?? (error as Error).message));
      }
    }
  };
  await Promise.all(Array.from({ length: load.callers }, () => caller()));
  return report;
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`spend worker failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  });
}
