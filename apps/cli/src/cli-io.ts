import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** Where a command writes, and the environment it reads: process.* in main, buffers in tests. */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
}

/** Writes respecting back-pressure, so a streamed export never piles up in memory. */
export async function write(out: Writable, chunk: string | Uint8Array): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

export function printLine(out: Writable, line = ''): void {
  out.write(`${line}\n`);
}

/** Aligned columns for human output; --json gives the machine form. */
export function printTable(out: Writable, rows: string[][]): void {
  const widths = rows.reduce<number[]>((acc, row) => row.map((cell, i) => Math.max(acc[i] ?? 0, cell.length)), []);
  for (const row of rows) printLine(out, row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}
