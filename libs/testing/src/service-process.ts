import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from './repo-root';

export interface ServiceProcess {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  /** The OS process id, e.g. to watch its memory. */
  readonly pid: number;
  /** False once the process has exited (stopped, killed, crashed). */
  readonly running: boolean;
  /** Every JSON log line the process printed so far. */
  readonly logs: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  kill(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a built app (`dist/apps/<app>/src/main.js`) as its own OS process, the way it
 * runs in production, and waits until /health/ready answers 200. It listens on a port the
 * OS picks (PORT=0) unless `env.PORT` says otherwise, and its URL is read from its own
 * `listening` log line: a port found free and handed over can be taken by another test's
 * process meanwhile, and then "something answers there" would be the wrong process.
 */
export async function startService(app: string, env: Record<string, string>, readyPath = '/health/ready', timeoutMs = 30_000): Promise<ServiceProcess> {
  const entry = join(repoRoot(), 'dist', 'apps', app, 'src', 'main.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, [entry], {
    cwd: repoRoot(),
    env: { PATH: process.env['PATH'] ?? '', LISTEN_HOST: '127.0.0.1', LOG_LEVEL: 'info', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const collect = (chunk: Buffer) => logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const url = await waitUntilReady(child, readyPath, timeoutMs, logs, app);
  return {
    name: app,
    url,
    port: Number(new URL(url).port),
    pid: child.pid as number,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    logs,
    stop: (signal = 'SIGTERM') => stopProcess(child, signal),
    kill: async () => {
      await stopProcess(child, 'SIGKILL');
    },
  };
}

/** The URL the child itself reported listening on, once its readiness path answers 200. */
async function waitUntilReady(child: ChildProcess, readyPath: string, timeoutMs: number, logs: string[], app: string): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let url: string | undefined;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${app} exited with ${child.exitCode}:\n${logs.slice(-20).join('\n')}`);
    url ??= listeningUrl(logs, app);
    if (url) {
      try {
        if ((await fetch(`${url}${readyPath}`)).ok) return url;
      } catch {
        // not answering yet
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${app} not ready${url ? ` at ${url}${readyPath}` : ''} after ${timeoutMs} ms:\n${logs.slice(-20).join('\n')}`);
}

function listeningUrl(logs: readonly string[], app: string): string | undefined {
  for (const line of logs) {
    try {
      const entry = JSON.parse(line) as { msg?: unknown; url?: unknown };
      if (entry.msg === `${app} listening` && typeof entry.url === 'string') return entry.url;
    } catch {
      // not a JSON log line
    }
  }
  return undefined;
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill(signal);
  });
}
