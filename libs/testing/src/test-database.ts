import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { applyMigrations, dropDatabase, ensureDatabase } from '@atelier/persistence';
import { repoRoot } from './repo-root';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database on the machine's Postgres (TEST_DATABASE_URL, default the
 * local trust-auth server), unique per test file so files can run in parallel.
 */
export async function createTestDatabase(prefix = 'atelier_test'): Promise<TestDatabase> {
  const base = new URL(process.env['TEST_DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
  base.pathname = `/${prefix}_${randomBytes(4).toString('hex')}`;
  const url = base.toString();
  await ensureDatabase(url);
  await applyMigrations(url, join(repoRoot(), 'prisma', 'migrations'));
  return { url, drop: () => dropDatabase(url) };
}
