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
  /** Measured time, after the warm-up. */
  durationMs: number;
  /** Time before measuring starts (connections, prepared statements, JIT). */
  warmupMs?: number;
  thinkMs: number;
  /** Think times are drawn uniformly from thinkMs × (1 ± thinkJitter). */
  thinkJitter?: number;
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
  const poolMax = Number(process.env['POOL_MAX'] ?? 5);
  const prisma = createPrismaClient({ connectionString: url, poolMax });
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
      reply({ op: 'bench', report: await bench(ledger, prisma.pool, command.load, poolMax) });
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

/** One caller's reserve and settle (or what stands in for them); `reserve` answers whether to settle. */
interface CallerOperations {
  reserve(attemptId: string, target: SpendTarget): Promise<boolean>;
  settle(attemptId: string): Promise<void>;
}

/** What stands in for reserve and settle when measuring the harness floor. */
function floorOperations(pool: SqlPool, mode: Exclude<BenchLoad['mode'], 'ledger' | undefined>): CallerOperations {
  const statement = mode === 'commit' ? { name: 'bench_floor_commit', text: 'SELECT pg_current_xact_id()::text' } : { name: 'bench_floor_select', text: 'SELECT 1' };
  const call = mode === 'none' ? () => new Promise<void>(setImmediate) : async () => void (await pool.query(statement));
  return { reserve: async () => (await call(), true), settle: call };
}

function ledgerOperations(ledger: SpendLedger, load: BenchLoad): CallerOperations {
  const usage = { inputTokens: 100, outputTokens: 50, cacheCreationInputTokens: 0, cacheCreation1hInputTokens: 0, cacheReadInputTokens: 0 };
  return {
    reserve: async (attemptId, target) =>
      (await ledger.reserve({ attemptId, target, amountUsd: load.amountUsd, ttlMs: 60_000, model: 'claude-haiku-5-5', attempt: 1, actor: 'service:bench' })).granted,
    settle: async (attemptId) => void (await ledger.settle({ attemptId, outcome: 'success', costUsd: load.costUsd, usage, latencyMs: load.thinkMs })),
  };
}

/**
 * Each caller reserves, "calls the model" (waits a think time drawn uniformly within
 * ±`thinkJitter` of `thinkMs`: model calls do not all take the same time, and a fixed
 * pause would march every caller in step, 200 reservations at once each round), settles,
 * and again. The pool's connections are opened first, and nothing measured during the
 * first `warmupMs` counts (connections, prepared statements, JIT).
 */
async function bench(ledger: SpendLedger, pool: SqlPool, load: BenchLoad, poolMax: number): Promise<BenchReport> {
  await Promise.all(Array.from({ length: poolMax }, () => pool.query({ text: 'SELECT 1' })));
  const operations = load.mode && load.mode !== 'ledger' ? floorOperations(pool, load.mode) : ledgerOperations(ledger, load);
  const report: BenchReport = { reserveMs: [], settleMs: [], pairs: 0, denied: 0, errors: [] };
  const measureFrom = Date.now() + (load.warmupMs ?? 0);
  const until = measureFrom + load.durationMs;
  const jitter = load.thinkJitter ?? 0;
  const think = () => load.thinkMs * (1 - jitter + 2 * jitter * Math.random());
  const caller = async (index: number) => {
    for (let n = 0; Date.now() < until; n++) {
      const target = load.targets[(index + n) % load.targets.length] as SpendTarget;
      const attemptId = `${target.stepId}:${process.pid}:${index}:${n}`;
      try {
        let started = performance.now();
        const granted = await operations.reserve(attemptId, target);
        const counted = Date.now() >= measureFrom;
        if (counted) report.reserveMs.push(performance.now() - started);
        if (!granted) {
          if (counted) report.denied++;
          continue;
        }
        if (load.thinkMs > 0) await new Promise((resolve) => setTimeout(resolve, think()));
        started = performance.now();
        await operations.settle(attemptId);
        if (counted) {
          report.settleMs.push(performance.now() - started);
          report.pairs++;
        }
      } catch (error) {
        report.errors.push(String((error as { code?: string }).code ?? (error as Error).message));
      }
    }
  };
  await Promise.all(Array.from({ length: load.callers }, (_, index) => caller(index)));
  return report;
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`spend worker failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  });
}
