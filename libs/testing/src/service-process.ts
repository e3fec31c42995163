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
 * runs in production, and waits until /health/ready answers 200.
 */
export async function startService(app: string, env: Record<string, string>, readyPath = '/health/ready', timeoutMs = 30_000): Promise<ServiceProcess> {
  const entry = join(repoRoot(), 'dist', 'apps', app, 'src', 'main.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const port = Number(env['PORT'] ?? (await freePort()));
  const child = spawn(process.execPath, [entry], {
    cwd: repoRoot(),
    env: { PATH: process.env['PATH'] ?? '', LISTEN_HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const collect = (chunk: Buffer) => logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const url = `http://127.0.0.1:${port}`;
  await waitUntilReady(child, `${url}${readyPath}`, timeoutMs, logs, app);
  return {
    name: app,
    url,
    port,
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

async function waitUntilReady(child: ChildProcess, url: string, timeoutMs: number, logs: string[], app: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${app} exited with ${child.exitCode}:\n${logs.slice(-20).join('\n')}`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${app} not ready at ${url} after ${timeoutMs} ms:\n${logs.slice(-20).join('\n')}`);
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill(signal);
  });
}
