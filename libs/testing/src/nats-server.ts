import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  /**
   * Stops the server and starts it again on the same port and store: gracefully
   * (SIGTERM, the default), or as a crash would (SIGKILL: whatever it had not written to
   * its files yet is lost, acknowledged or not).
   */
  restart(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** SIGKILL, as a crash would: no flush, no goodbye to clients. */
  kill(): void;
}

/**
 * A private JetStream server per test file, on a port the OS picks (`-p -1`) with its own
 * store, so tests never share state with each other or with the developer's server on 4222.
 */
export async function startNatsServer(): Promise<NatsTestServer> {
  const storeDir = await mkdtemp(join(tmpdir(), 'atelier-nats-'));
  let { child, port } = await spawnServer(-1, storeDir);
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
    async restart(signal = 'SIGTERM') {
      await stopProcess(child, signal);
      ({ child, port } = await spawnServer(port, storeDir));
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}

const LISTENING = /Listening for client connections on [^\s]+:(\d+)/;

/**
 * Starts nats-server and waits for ITS OWN "listening" line: a connection that succeeds
 * proves nothing, since another test's server (or the previous process, during a restart)
 * may answer on the port. A port it cannot bind makes it exit, which fails loudly.
 */
async function spawnServer(port: number, storeDir: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(NATS_SERVER_BINARY, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}:\n${logs.slice(-20).join('\n')}`);
    const bound = logs.map((line) => LISTENING.exec(line)).find(Boolean);
    if (bound && logs.some((line) => line.includes('Server is ready'))) return { child, port: Number(bound[1]) };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`nats-server not ready after ${READY_TIMEOUT_MS} ms:\n${logs.slice(-20).join('\n')}`);
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}
