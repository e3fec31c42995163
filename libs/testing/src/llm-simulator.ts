import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './repo-root';

export interface LlmSimulatorProcess {
  /** Base URL for the Anthropic SDK (`baseURL`) and the simulator's /_sim control endpoints. */
  url: string;
  port: number;
  pid: number;
  /** SIGTERM, then waits for the process to exit. */
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 5_000;
let building: Promise<unknown> | undefined;

/**
 * Starts the built apps/llm-simulator as its own process on a free port (PORT=0; the
 * bound URL is read from its `listening` log line) and waits until /health answers.
 * `env` sets SIM_* variables (latency, faults); nothing else is inherited but PATH.
 */
export async function startLlmSimulator(env: Record<string, string> = {}, timeoutMs = 15_000): Promise<LlmSimulatorProcess> {
  const root = repoRoot();
  const entry = join(root, 'dist', 'apps', 'llm-simulator', 'src', 'main.js');
  // One build per test process, shared by concurrent callers; `npm test` builds beforehand anyway.
  if (!existsSync(entry)) await (building ??= promisify(execFile)(process.execPath, [join(root, 'tools', 'build.mjs')], { cwd: root }));
  const child = spawn(process.execPath, [entry], {
    cwd: root,
    env: { PATH: process.env['PATH'] ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const url = await listeningUrl(child, timeoutMs);
    await waitForHealth(url, Date.now() + timeoutMs);
    return { url, port: Number(new URL(url).port), pid: child.pid as number, stop: () => stop(child) };
  } catch (error) {
    await stop(child);
    throw error;
  }
}

function listeningUrl(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const output: string[] = [];
    let pending = '';
    const timer = setTimeout(() => fail(`llm-simulator did not report listening within ${timeoutMs} ms`), timeoutMs);
    const fail = (reason: string) => {
      clearTimeout(timer);
      reject(new Error(`${reason}:\n${output.join('').slice(-2000)}`));
    };
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    child.stdout?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output.push(text);
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const url = listeningLine(line);
        if (url) {
          clearTimeout(timer);
          resolve(url);
        }
      }
    });
    child.once('close', (code) => fail(`llm-simulator exited with ${code} before listening`));
  });
}

function listeningLine(line: string): string | undefined {
  try {
    const entry = JSON.parse(line) as { msg?: unknown; url?: unknown };
    return entry.msg === 'listening' && typeof entry.url === 'string' ? entry.url : undefined;
  } catch {
    return undefined;
  }
}

async function waitForHealth(url: string, deadline: number): Promise<void> {
  for (;;) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not answering yet
    }
    if (Date.now() > deadline) throw new Error(`llm-simulator at ${url} did not answer /health`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
