import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { BenchLoad, BenchReport, WorkerCommand, WorkerOutcome } from './spend-worker';

export interface SpendWorker {
  /** Sends one command; resolves with the worker's answer. */
  run(command: Extract<WorkerCommand, { op: 'reserve' | 'settle' }>): Promise<WorkerOutcome[]>;
  /** Runs a closed-loop load (bench/budget-spend.mjs). */
  bench(load: BenchLoad): Promise<BenchReport>;
  /** Statements the worker's ledger has run, by name. */
  statements(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** The compiled worker: beside this file in dist/, or in dist/ when this runs from source under jest. */
const WORKER_ENTRY = __filename.endsWith('.js') ? join(__dirname, 'spend-worker.js') : join(__dirname, '..', '..', '..', '..', 'dist', 'libs', 'persistence', 'src', 'spend', 'spend-worker.js');

export interface SpendWorkerOptions {
  poolMax?: number;
  /** SpendLedgerOptions of the worker's ledger. */
  maxInFlight?: number;
  maxGroup?: number;
}

/** Starts the built spend worker as its own OS process (own connection pool), connected to `databaseUrl`. Needs `npm run build`. */
export async function startSpendWorker(databaseUrl: string, options: SpendWorkerOptions = {}): Promise<SpendWorker> {
  const { poolMax = 5, maxInFlight = 1, maxGroup = 64 } = options;
  if (!existsSync(WORKER_ENTRY)) throw new Error(`${WORKER_ENTRY} is missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, [WORKER_ENTRY], {
    env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: databaseUrl, POOL_MAX: String(poolMax), MAX_IN_FLIGHT: String(maxInFlight), MAX_GROUP: String(maxGroup) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<{ ready?: boolean; outcomes?: WorkerOutcome[]; report?: BenchReport; statements?: Record<string, number> }> => {
    const line = await lines.next();
    if (line.done) throw new Error(`spend worker exited:\n${stderr.join('').slice(-2000)}`);
    return JSON.parse(line.value);
  };
  try {
    if (!(await next()).ready) throw new Error('spend worker did not report ready');
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    async run(command) {
      child.stdin!.write(`${JSON.stringify(command)}\n`);
      return (await next()).outcomes ?? [];
    },
    async bench(load) {
      child.stdin?.write(`${JSON.stringify({ op: 'bench', load })}\n`);
      const { report } = await next();
      if (!report) throw new Error('spend worker answered the bench without a report');
      return report;
    },
    async statements() {
      child.stdin!.write(`${JSON.stringify({ op: 'stats' })}\n`);
      return (await next()).statements ?? {};
    },
    stop: () => stopWorker(child),
  };
}

function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.stdin!.end(`${JSON.stringify({ op: 'exit' })}\n`);
  });
}
