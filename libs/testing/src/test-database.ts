import { join } from 'node:path';
import { createScratchDatabase, type ScratchDatabase } from '@atelier/persistence';
import { repoRoot } from './repo-root';

export type TestDatabase = ScratchDatabase;

/**
 * A fresh, migrated database on the machine's Postgres (TEST_DATABASE_URL, default the
 * local trust-auth server), unique per test file so files can run in parallel.
 */
export function createTestDatabase(prefix = 'atelier_test'): Promise<TestDatabase> {
  return createScratchDatabase(process.env['TEST_DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres', join(repoRoot(), 'prisma', 'migrations'), prefix);
}
