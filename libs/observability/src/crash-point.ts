// Deterministic crash points for fault tests: ATELIER_CRASH_AT=<name>[,<name>] makes the
// process kill itself with SIGKILL (as `kill -9` would: no shutdown hooks, nothing
// flushed) the first time it reaches a named point. Unset in production, where a
// crash point costs one Set lookup. The names are listed where they are used.

const points = new Set((process.env['ATELIER_CRASH_AT'] ?? '').split(',').map((name) => name.trim()).filter(Boolean));

export function crashPoint(name: string): void {
  if (!points.has(name)) return;
  process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: 'crash point reached: SIGKILL', crashPoint: name })}\n`);
  process.kill(process.pid, 'SIGKILL');
}
