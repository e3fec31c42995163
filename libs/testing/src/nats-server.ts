import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './service-process';

const NATS_SERVER_BINARY = '/usr/sbin/nats-server';
const READY_TIMEOUT_MS = 10_000;

export interface NatsTestServer {
  readonly url: string;
  readonly port: number;
  /** JetStream file storage; survives `restart()`, removed by `stop()`. */
  readonly storeDir: string;
  /** The current server process (changes on restart). */
  readonly pid: number;
  /** Kills the server and removes its store directory. */
  stop(): Promise<void>;
  /** Stops the server gracefully and starts it again on the same port and store. */
  restart(): Promise<void>;
  /** SIGKILL, as a crash would: no flush, no goodbye to clients. */
  kill(): void;
}

/**
 * A private JetStream server per test file, on a free port with its own store, so tests
 * never share state with each other or with the developer's server on 4222.
 */
export async function startNatsServer(): Promise<NatsTestServer> {
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), 'atelier-nats-'));
  let child = await spawnServer(port, storeDir);
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid() {
      return child.pid as number;
    },
    async stop() {
      await stopProcess(child, 'SIGKILL');
      await rm(storeDir, { recursive: true, force: true });
    },
    async restart() {
      await stopProcess(child, 'SIGTERM');
      child = await spawnServer(port, storeDir);
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}

async function spawnServer(port: number, storeDir: string): Promise<ChildProcess> {
  const child = spawn(NATS_SERVER_BINARY, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}:\n${logs.slice(-20).join('\n')}`);
    // The port may still be held by the previous process during a restart, so "accepts
    // a connection" alone is not enough: the child must also still be alive.
    if ((await acceptsConnections(port)) && child.exitCode === null) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`nats-server not accepting connections on ${port} after ${READY_TIMEOUT_MS} ms:\n${logs.slice(-20).join('\n')}`);
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}
