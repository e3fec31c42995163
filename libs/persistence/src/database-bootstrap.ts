import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { applyMigrations } from './migration-runner';

/** Runs `work` on the server's `postgres` database, for statements about `connectionString`'s database. */
async function onServer<T>(connectionString: string, work: (admin: Client, database: string) => Promise<T>): Promise<T> {
  const url = new URL(connectionString);
  const database = decodeURIComponent(url.pathname.slice(1));
  if (!/^[A-Za-z0-9_]+$/.test(database)) throw new Error(`unsupported database name "${database}"`);
  url.pathname = '/postgres';
  const admin = new Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    return await work(admin, database);
  } finally {
    await admin.end();
  }
}

/** Creates the database named in `connectionString` when it does not exist yet (dev, tests). */
export function ensureDatabase(connectionString: string): Promise<boolean> {
  return onServer(connectionString, async (admin, database) => {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (rowCount) return false;
    await admin.query(`CREATE DATABASE "${database}"`);
    return true;
  });
}

/** Drops a database created for a test run. */
export function dropDatabase(connectionString: string): Promise<void> {
  return onServer(connectionString, async (admin, database) => {
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  });
}

export interface ScratchDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh database named `<prefix>_<random>` on the server of `serverUrl`, with every migration applied (tests, benchmarks). */
export async function createScratchDatabase(serverUrl: string, migrationsDir: string, prefix: string): Promise<ScratchDatabase> {
  const base = new URL(serverUrl);
  base.pathname = `/${prefix}_${randomBytes(4).toString('hex')}`;
  const url = base.toString();
  await ensureDatabase(url);
  await applyMigrations(url, migrationsDir);
  return { url, drop: () => dropDatabase(url) };
}
