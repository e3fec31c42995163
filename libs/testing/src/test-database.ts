import { join } from 'node:path';
import { Client } from 'pg';
import { createScratchDatabase } from '@atelier/persistence';
import { repoRoot } from './repo-root';

export interface TestDatabase {
  /** As the server's superuser, the owner of every table. */
  url: string;
  /**
   * A URL of the same database for a new login role in `atelier_app` (the application's
   * role from the migrations): the rights the services have in production, not the owner's.
   */
  createAppLogin(): Promise<string>;
  /** Drops the database, and the logins createAppLogin made. */
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database on the machine's Postgres (TEST_DATABASE_URL, default the
 * local trust-auth server) or on `serverUrl` (e.g. a startPrivatePostgres() URL), unique per
 * test file so files can run in parallel.
 */
export async function createTestDatabase(prefix = 'atelier_test', serverUrl?: string): Promise<TestDatabase> {
  const server = serverUrl ?? process.env['TEST_DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const scratch = await createScratchDatabase(server, join(repoRoot(), 'prisma', 'migrations'), prefix);
  const database = decodeURIComponent(new URL(scratch.url).pathname.slice(1));
  const logins: string[] = [];
  const onServer = async (statement: string) => {
    const admin = new Client({ connectionString: server });
    await admin.connect();
    try {
      await admin.query(statement);
    } finally {
      await admin.end();
    }
  };
  return {
    url: scratch.url,
    async createAppLogin() {
      // Roles are server-wide: the name is unique to this database and dropped with it.
      const login = `atelier_app_${database}_${logins.length + 1}`;
      await onServer(`CREATE ROLE ${login} LOGIN IN ROLE atelier_app`);
      logins.push(login);
      const appUrl = new URL(scratch.url);
      appUrl.username = login;
      appUrl.password = '';
      return appUrl.toString();
    },
    async drop() {
      await scratch.drop();
      for (const login of logins.splice(0)) await onServer(`DROP ROLE IF EXISTS ${login}`);
    },
  };
}
