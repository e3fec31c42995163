/** Postgres gave up on a statement for the sake of another (deadlock detected, serialization failure): running it again is safe. */
export function isLockConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}
