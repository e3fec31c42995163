import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import { createPrismaClient, type PrismaService } from '@atelier/persistence';
import { createTestDatabase, repoRoot, type TestDatabase } from '@atelier/testing';
import { verifyStoredChain } from '../src/audit/audit-verification';

// Eight OS processes write 10,000 audit events at once, the way replicas of the
// orchestrator and agents do (appendAudit inside their own transactions, some held open
// for a while, some rolled back), and every one of them runs the sealer too. The result
// must be ONE chain: every committed event sealed exactly once, no fork, verifiable.

const PROCESSES = 8;
const EVENTS_PER_PROCESS = 1_250;

/** Runs from dist/ (built by `npm test`), as production code does. */
const WORKER = `
const { appendAudit, createPrismaClient } = require(${JSON.stringify(join(repoRoot(), 'dist/libs/persistence/src/index.js'))});
const { AuditSealer } = require(${JSON.stringify(join(repoRoot(), 'dist/apps/orchestrator/src/audit/audit-sealer.js'))});
const prisma = createPrismaClient({ connectionString: process.env.DATABASE_URL, poolMax: 3 });
const sealer = new AuditSealer(prisma, 400);
const worker = Number(process.env.WORKER);
let stopping = false;
let committed = 0;
let sealed = 0;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function writeLane(lane, quota) {
  let written = 0;
  while (written < quota) {
    const size = Math.min(1 + Math.floor(Math.random() * 8), quota - written);
    const holdMs = Math.random() < 0.1 ? 20 + Math.random() * 100 : 0;
    const rollBack = Math.random() < 0.05;
    const events = Array.from({ length: size }, (_, i) => ({
      action: 'step.queued', actor: 'service:writer-' + worker, subject: 'w' + worker + ':l' + lane + ':' + (written + i),
      data: { worker, lane, n: written + i, rollBack },
    }));
    try {
      // Three lanes and the sealer share three connections: on a loaded machine a lane may wait
      // longer than Prisma's default 2 s for one, which says nothing about the chain.
      await prisma.$transaction(async (tx) => {
        await appendAudit(tx, ...events);
        if (holdMs) await sleep(holdMs); // a later seq of another writer commits meanwhile
        if (rollBack) throw new Error('rolled back on purpose');
      }, { timeout: 10000, maxWait: 10000 });
      written += size;
    } catch (error) {
      if (!rollBack) throw error;
    }
  }
  return written;
}

async function sealLoop() {
  while (!stopping) {
    const result = await sealer.sealBatch();
    sealed += result.sealed;
    if (result.sealed === 0) await sleep(100 + Math.random() * 100);
  }
}

process.on('SIGTERM', () => { stopping = true; });
(async () => {
  const sealing = sealLoop();
  const lanes = 3;
  const quota = Number(process.env.EVENTS);
  const results = await Promise.all(Array.from({ length: lanes }, (_, lane) => writeLane(lane, Math.floor(quota / lanes) + (lane < quota % lanes ? 1 : 0))));
  committed = results.reduce((a, b) => a + b, 0);
  process.stdout.write(JSON.stringify({ type: 'written', committed }) + '\\n');
  await sealing;
  process.stdout.write(JSON.stringify({ type: 'sealed', sealed }) + '\\n');
  await prisma.$disconnect();
})().catch((error) => { process.stderr.write(String(error && error.stack || error) + '\\n'); process.exit(1); });
`;

interface Worker {
  child: ChildProcess;
  messages: { type: string; committed?: number; sealed?: number }[];
  stderr: string[];
  exited: Promise<number | null>;
}

function startWorker(index: number, databaseUrl: string): Worker {
  const child = spawn(process.execPath, ['-e', WORKER], {
    env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: databaseUrl, WORKER: String(index), EVENTS: String(EVENTS_PER_PROCESS) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const worker: Worker = { child, messages: [], stderr: [], exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stdout?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) worker.messages.push(JSON.parse(line));
  });
  child.stderr?.on('data', (chunk: Buffer) => worker.stderr.push(chunk.toString('utf8')));
  return worker;
}

async function until(condition: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('audit chain under concurrent writers (8 processes, 10,000 events)', () => {
  let db: TestDatabase;
  let sql: Client;
  let prisma: PrismaService;
  const workers: Worker[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 2 });
  });

  afterAll(async () => {
    for (const worker of workers) worker.child.kill('SIGKILL');
    await Promise.all(workers.map((worker) => worker.exited));
    await prisma?.$disconnect();
    await sql?.end();
    await db?.drop();
  });

  it('forms one chain: every committed event sealed once, no fork, verifiable', async () => {
    workers.push(...Array.from({ length: PROCESSES }, (_, index) => startWorker(index, db.url)));
    const failed = () => workers.find((worker) => worker.child.exitCode !== null && worker.child.exitCode !== 0);
    await until(() => {
      const crashed = failed();
      if (crashed) throw new Error(`a writer failed:\n${crashed.stderr.join('')}`);
      return workers.every((worker) => worker.messages.some((message) => message.type === 'written'));
    }, 45_000, 'the writers');
    const count = async (where: string) => Number((await sql.query(`SELECT count(*) AS n FROM audit_events WHERE ${where}`)).rows[0].n);
    const unsealed = 'NOT EXISTS (SELECT FROM audit_chain c WHERE c.seq = audit_events.seq)';
    await until(async () => (await count(unsealed)) === 0, 20_000, 'the sealers to catch up');
    for (const worker of workers) worker.child.kill('SIGTERM');
    expect(await Promise.all(workers.map((worker) => worker.exited))).toEqual(Array(PROCESSES).fill(0));

    const committed = workers.map((worker) => worker.messages.find((message) => message.type === 'written')?.committed);
    expect(committed).toEqual(Array(PROCESSES).fill(EVENTS_PER_PROCESS));
    const total = PROCESSES * EVENTS_PER_PROCESS;
    expect(await count('TRUE')).toBe(total);
    expect(await count(`(data->>'rollBack')::boolean`)).toBe(0);

    // One chain: positions 1..N, each once, one per event; every prev_hash used once (no
    // fork), each the hash of the position before.
    const shape = (
      await sql.query(
        `SELECT count(*) AS links, count(DISTINCT chain_pos) AS positions, min(chain_pos) AS first, max(chain_pos) AS last,
                count(DISTINCT seq) AS events, count(DISTINCT prev_hash) AS prev_hashes, count(DISTINCT hash) AS hashes
           FROM audit_chain JOIN audit_events USING (seq)`,
      )
    ).rows[0];
    const n = String(total);
    expect(shape).toEqual({ links: n, positions: n, first: '1', last: n, events: n, prev_hashes: n, hashes: n });
    expect(Number((await sql.query('SELECT count(*) AS n FROM audit_chain')).rows[0].n)).toBe(total);
    const links = await sql.query(
      `SELECT count(*) AS n FROM audit_chain e JOIN audit_chain p ON p.chain_pos = e.chain_pos - 1 WHERE e.prev_hash = p.hash`,
    );
    expect(Number(links.rows[0].n)).toBe(total - 1);
    expect(await verifyStoredChain(prisma, {})).toEqual({ ok: true, checked: total, firstBadPosition: null, reason: null, from: 1, to: total });

    // The order is (transaction, seq): later seqs of concurrent writers never jumped ahead.
    const outOfOrder = await sql.query(
      `SELECT count(*) AS n
         FROM audit_chain ec JOIN audit_events e ON e.seq = ec.seq
         JOIN audit_chain pc ON pc.chain_pos = ec.chain_pos - 1 JOIN audit_events p ON p.seq = pc.seq
        WHERE (p.tx_id, p.seq) > (e.tx_id, e.seq)`,
    );
    expect(Number(outOfOrder.rows[0].n)).toBe(0);

    // Sealing was shared between the processes, each event sealed by exactly one of them.
    const sealedBy = workers.map((worker) => worker.messages.find((message) => message.type === 'sealed')?.sealed ?? 0);
    expect(sealedBy.reduce((a, b) => a + b, 0)).toBe(total);
    expect(sealedBy.filter((n) => n > 0).length).toBeGreaterThan(1);
  }, 80_000);
});
