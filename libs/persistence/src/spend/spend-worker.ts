import { createInterface } from 'node:readline';
import { createPrismaClient } from '../prisma.service';
import { type ReserveRequest, SpendLedger, type SpendTarget } from './spend-ledger';

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
  | { op: 'exit' };

export interface WorkerOutcome {
  attemptId: string;
  granted?: boolean;
  settled?: boolean;
  /** Postgres error code or message when an operation failed (a deadlock would show here as 40P01). */
  error?: string;
}

async function main(): Promise<void> {
  const url = process.env['DATABASE_URL'];
  if (!url) throw new Error('DATABASE_URL is required');
  const prisma = createPrismaClient({ connectionString: url, poolMax: Number(process.env['POOL_MAX'] ?? 5) });
  await prisma.$connect();
  const ledger = new SpendLedger(prisma.pool, undefined, { maxInFlight: Number(process.env['MAX_IN_FLIGHT'] ?? 1) });
  const reply = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`);
  const failure = (error: unknown) => String((error as { code?: string; message?: string }).code ?? (error as Error).message);

  reply({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line) as WorkerCommand;
    if (command.op === 'exit') break;
    if (command.op === 'bench') {
      reply({ op: 'bench', report: await bench(ledger, command.load) });
    } else if (command.op === 'reserve') {
      const outcomes = await Promise.all(
        command.reservations.map(async ({ request, settleUsd }): Promise<WorkerOutcome> => {
          try {
            const result = await ledger.reserve({ ttlMs: 60_000, actor: 'service:spend-worker', ...request });
            if (!result.granted || settleUsd === undefined) return { attemptId: request.attemptId, granted: result.granted };
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

async function bench(ledger: SpendLedger, load: BenchLoad): Promise<BenchReport> {
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

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`spend worker failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  });
}
