// npm run bench:audit [-- --events 100000 --samples 2000 --writers 16 --seconds 20]
//
// The audit trail's three targets (issue 4), on a fresh database of the Postgres at
// TEST_DATABASE_URL, with the BUILT code (npm run build first; the npm script does):
//
// 1. sealing throughput: events/s the sealer (AuditSealer, batches of 5000, the
//    orchestrator's default) gives chain positions and hashes to, from a backlog, and the
//    WAL written meanwhile per event (what the database does for a seal, steadier than time
//    on a busy machine; server-wide, so other databases' writes count too);
// 2. hot-path cost: p50/p99 of a transaction like an agent's "complete the step" with and
//    without one appendAudit in it (Prisma interactive transactions, as the services run);
// 3. seal lag under load: a closed loop of `writers` concurrent writers (task-flow-like
//    transactions: update a step row + 1-3 audit events) for `seconds`, while the real
//    orchestrator process seals (AUDIT_SEAL_INTERVAL_MS default 500); the lag of each event is
//    measured by the database's clock from insert to seen sealed (polled every 100 ms, so an
//    over-estimate by up to 0.1 s), plus the orchestrator's atelier_audit_seal_lag_seconds.
import { createRequire } from 'node:module';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const { createTestDatabase, startNatsServer, startService } = require('../dist/libs/testing/src/index.js');
const { appendAudit, createPrismaClient } = require('../dist/libs/persistence/src/index.js');
const { AuditSealer } = require('../dist/apps/orchestrator/src/audit/audit-sealer.js');
const { verifyStoredChain } = require('../dist/apps/orchestrator/src/audit/audit-verification.js');
const { Client } = require('pg');

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    samples: { type: 'string', default: '2000' },
    writers: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '20' },
  },
});
const EVENTS = Number(args.events);
const SAMPLES = Number(args.samples);
const WRITERS = Number(args.writers);
const SECONDS = Number(args.seconds);
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const ms = (value) => `${value.toFixed(3)} ms`;
const loadAverage = () => (process.platform === 'linux' ? require('node:fs').readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') : 'n/a');

/** An llm.call-sized event: ~600 bytes of data, like a redacted prompt excerpt and figures. */
const eventData = (n) => ({
  model: 'claude-haiku-5-5',
  attempt: 1,
  attemptId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}:1:1`,
  inputTokens: 812,
  outputTokens: 377,
  costUsd: '0.000269700000',
  latencyMs: 412,
  outcome: 'success',
  prompt: { sha256: 'f'.repeat(64), length: 2400, content: 'Investigate the question below and answer with findings. '.repeat(6) },
});

async function sealingThroughput(url) {
  const sql = new Client({ connectionString: url });
  await sql.connect();
  await sql.query(
    `INSERT INTO audit_events (tenant_id, actor, action, subject, task_id, trace_id, request_id, data)
     SELECT gen_random_uuid(), 'service:research-agent', 'llm.call', 'step:' || gen_random_uuid(), gen_random_uuid(), md5(g::text), 'req_' || md5(g::text), $1::jsonb || jsonb_build_object('n', g)
       FROM generate_series(1, ${EVENTS}) AS g`,
    [JSON.stringify(eventData(1))],
  );
  await sql.query('VACUUM ANALYZE audit_events');
  const prisma = createPrismaClient({ connectionString: url, poolMax: 2 });
  const sealer = new AuditSealer(prisma, 5000);
  const walBefore = (await sql.query('SELECT pg_current_wal_lsn() AS lsn')).rows[0].lsn;
  const started = performance.now();
  let sealed = 0;
  let batches = 0;
  for (let result = await sealer.sealBatch(); result.sealed > 0; result = await sealer.sealBatch()) {
    sealed += result.sealed;
    batches += 1;
  }
  const seconds = (performance.now() - started) / 1000;
  const walBytes = Number((await sql.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS bytes', [walBefore])).rows[0].bytes);
  const verifyStarted = performance.now();
  const verdict = await verifyStoredChain(prisma, {});
  const verifySeconds = (performance.now() - verifyStarted) / 1000;
  await prisma.$disconnect();
  await sql.end();
  if (!verdict.ok || sealed !== EVENTS) throw new Error(`sealing bench: sealed ${sealed}, verify ${JSON.stringify(verdict)}`);
  return { sealed, seconds, perSecond: sealed / seconds, msPerBatch: (seconds * 1000) / batches, walPerEvent: walBytes / sealed, verifyPerSecond: verdict.checked / verifySeconds };
}

async function hotPathCost(url) {
  const prisma = createPrismaClient({ connectionString: url, poolMax: 2 });
  const tenant = await prisma.tenant.create({ data: { name: `bench-${Date.now()}` } });
  const task = await prisma.task.create({ data: { tenantId: tenant.id, workflow: 'brief', input: { goal: 'bench' } } });
  const step = await prisma.step.create({ data: { taskId: task.id, key: 'investigate', kind: 'research.investigate', agent: 'research', input: {} } });
  const completeStep = (withAudit, n) =>
    prisma.$transaction(async (tx) => {
      await tx.step.updateMany({ where: { id: step.id }, data: { output: { findings: `finding ${n}` }, completedAt: new Date() } });
      if (withAudit) {
        await appendAudit(tx, {
          action: 'step.completed', actor: 'service:research-agent', subject: `step:${step.id}`, tenantId: tenant.id, taskId: task.id,
          traceId: '4bf92f3577b34da6a3ce929d0e0e4736', data: { output: { sha256: 'a'.repeat(64), length: 1200, content: 'finding '.repeat(40) } },
        });
      }
    });
  for (let i = 0; i < 200; i++) await completeStep(i % 2 === 0, i); // warm-up
  const timings = { without: [], with: [] };
  for (let i = 0; i < SAMPLES * 2; i++) {
    const withAudit = i % 2 === 1; // interleaved, so load changes hit both alike
    const started = performance.now();
    await completeStep(withAudit, i);
    timings[withAudit ? 'with' : 'without'].push(performance.now() - started);
  }
  await prisma.$disconnect();
  const summary = (values) => ({ p50: percentile(values, 50), p99: percentile(values, 99) });
  return { without: summary(timings.without), with: summary(timings.with) };
}

async function sealLagUnderLoad(url) {
  const nats = await startNatsServer();
  const orchestrator = await startService('orchestrator', { DATABASE_URL: url, NATS_URL: nats.url, ATELIER_BOOTSTRAP_API_KEY: ADMIN_KEY, LOG_LEVEL: 'warn' });
  const prisma = createPrismaClient({ connectionString: url, poolMax: WRITERS });
  const monitor = new Client({ connectionString: url });
  await monitor.connect();
  try {
    const tenant = await prisma.tenant.create({ data: { name: `load-${Date.now()}` } });
    const task = await prisma.task.create({ data: { tenantId: tenant.id, workflow: 'brief', input: { goal: 'load' } } });
    const steps = await Promise.all(
      Array.from({ length: WRITERS }, (_, i) => prisma.step.create({ data: { taskId: task.id, key: `s${i}`, kind: 'research.investigate', agent: 'research', input: {} } })),
    );
    const start = await monitor.query(
      'SELECT (SELECT coalesce(max(chain_pos), 0) FROM audit_chain) AS head, (SELECT coalesce(max(seq), 0) FROM audit_events) AS seq',
    );
    let lastSeen = Number(start.rows[0].head);
    const firstSeq = Number(start.rows[0].seq);
    const lags = [];
    let gaugeMax = 0;
    let written = 0;
    let stop = false;
    const deadline = Date.now() + SECONDS * 1000;

    const writer = async (i) => {
      let n = 0;
      while (Date.now() < deadline) {
        const events = 1 + (n++ % 3);
        await prisma.$transaction(async (tx) => {
          await tx.step.updateMany({ where: { id: steps[i].id }, data: { attempt: { increment: 1 } } });
          await appendAudit(
            tx,
            ...Array.from({ length: events }, (_, e) => ({
              action: e === 0 ? 'step.started' : 'llm.call', actor: 'service:research-agent', subject: `step:${steps[i].id}`,
              tenantId: tenant.id, taskId: task.id, traceId: '4bf92f3577b34da6a3ce929d0e0e4736', data: eventData(n),
            })),
          );
        });
        written += events;
      }
    };
    const poll = async () => {
      while (!stop) {
        const { rows } = await monitor.query(
          `SELECT c.chain_pos, EXTRACT(EPOCH FROM clock_timestamp() - e.occurred_at)::float8 AS lag
             FROM audit_chain c JOIN audit_events e USING (seq) WHERE c.chain_pos > $1 AND seq > $2 ORDER BY c.chain_pos`,
          [lastSeen, firstSeq],
        );
        for (const row of rows) {
          lags.push(row.lag);
          lastSeen = Math.max(lastSeen, Number(row.chain_pos));
        }
        const metrics = await (await fetch(`${orchestrator.url}/metrics`)).text();
        const gauge = Number(/^atelier_audit_seal_lag_seconds\{[^}]*\} (\S+)$/m.exec(metrics)?.[1] ?? 0);
        gaugeMax = Math.max(gaugeMax, gauge);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const polling = poll();
    await Promise.all(Array.from({ length: WRITERS }, (_, i) => writer(i)));
    const drainDeadline = Date.now() + 30_000;
    while (lags.length < written && Date.now() < drainDeadline) await new Promise((resolve) => setTimeout(resolve, 100));
    stop = true;
    await polling;
    return { written, perSecond: written / SECONDS, sealedSeen: lags.length, p50: percentile(lags, 50), p99: percentile(lags, 99), max: Math.max(...lags), gaugeMax };
  } finally {
    await monitor.end();
    await prisma.$disconnect();
    await orchestrator.stop();
    await nats.stop();
  }
}

async function main() {
  console.log(`audit trail benchmark: ${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
  console.log(`load average at start: ${loadAverage()}`);

  let db = await createTestDatabase('atelier_bench_audit');
  try {
    const sealing = await sealingThroughput(db.url);
    console.log(`\n1. sealing: ${sealing.sealed} events in ${sealing.seconds.toFixed(2)} s = ${Math.round(sealing.perSecond)} events/s (target ≥ 5000), ${sealing.msPerBatch.toFixed(1)} ms a batch of 5000; verify re-computes ${Math.round(sealing.verifyPerSecond)} events/s`);
    console.log(`   WAL written by sealing: ${Math.round(sealing.walPerEvent)} bytes an event`);
  } finally {
    await db.drop();
  }

  db = await createTestDatabase('atelier_bench_audit');
  try {
    const cost = await hotPathCost(db.url);
    console.log(`\n2. transaction "complete a step" (${SAMPLES} samples each, interleaved):`);
    console.log(`   without audit event: p50 ${ms(cost.without.p50)}, p99 ${ms(cost.without.p99)}`);
    console.log(`   with one audit event: p50 ${ms(cost.with.p50)}, p99 ${ms(cost.with.p99)}`);
    console.log(`   → the audit event adds ${ms(cost.with.p50 - cost.without.p50)} at p50 (target ≤ 1 ms)`);
  } finally {
    await db.drop();
  }

  db = await createTestDatabase('atelier_bench_audit');
  try {
    const lag = await sealLagUnderLoad(db.url);
    console.log(`\n3. seal lag under load (${WRITERS} concurrent writers, ${SECONDS} s): ${lag.written} events written (${Math.round(lag.perSecond)} events/s), ${lag.sealedSeen} seen sealed`);
    console.log(`   lag insert → sealed: p50 ${lag.p50.toFixed(3)} s, p99 ${lag.p99.toFixed(3)} s (target ≤ 2 s), max ${lag.max.toFixed(3)} s; atelier_audit_seal_lag_seconds max ${lag.gaugeMax.toFixed(3)} s`);
  } finally {
    await db.drop();
  }
  console.log(`\nload average at end: ${loadAverage()}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
