import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { applyMigrations, MigrationError } from './migration-runner';
import { dropDatabase, ensureDatabase } from './database-bootstrap';

const MIGRATIONS = join(__dirname, '..', '..', '..', 'prisma', 'migrations');
const base = new URL(process.env['TEST_DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres');

describe(applyMigrations.name, () => {
  let url: string;

  beforeEach(async () => {
    base.pathname = `/atelier_migrate_${process.pid}_${Date.now()}`;
    url = base.toString();
    await ensureDatabase(url);
  });

  afterEach(() => dropDatabase(url));

  it('applies every migration to an empty database and records it the way Prisma does', async () => {
    const result = await applyMigrations(url, MIGRATIONS);
    expect(result.applied.length).toBeGreaterThan(0);

    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT migration_name, checksum, finished_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name');
      expect(rows.map((row) => row.migration_name)).toEqual(result.applied);
      for (const row of rows) {
        const sql = await readFile(join(MIGRATIONS, row.migration_name, 'migration.sql'), 'utf8');
        expect(row.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
        expect(row.finished_at).toBeInstanceOf(Date);
        expect(row.applied_steps_count).toBe(1);
      }
      const tables = (await client.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)).rows.map((r) => r.tablename);
      expect(tables).toEqual(
        expect.arrayContaining(['tenants', 'api_keys', 'tasks', 'steps', 'llm_calls', 'audit_events', 'budgets', 'spend_reservations']),
      );
    } finally {
      await client.end();
    }

    expect(await applyMigrations(url, MIGRATIONS)).toEqual({ applied: [], alreadyApplied: result.applied });
  });

  it('refuses a migration edited after it was applied, and rolls back a failing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'atelier-migrations-'));
    try {
      await cp(MIGRATIONS, dir, { recursive: true });
      const [first] = (await applyMigrations(url, dir)).applied;
      await writeFile(join(dir, first as string, 'migration.sql'), '-- edited\n', { flag: 'a' });
      await expect(applyMigrations(url, dir)).rejects.toThrow(/modified after it was applied/);

      await cp(MIGRATIONS, dir, { recursive: true, force: true });
      await cp(join(MIGRATIONS, first as string), join(dir, '29990101000000_broken'), { recursive: true });
      await writeFile(join(dir, '29990101000000_broken', 'migration.sql'), 'CREATE TABLE half_done (id int);\nSELECT nonsense FROM nowhere;\n');
      await expect(applyMigrations(url, dir)).rejects.toThrow(MigrationError);
      const client = new Client({ connectionString: url });
      await client.connect();
      const leftovers = await client.query(`SELECT 1 FROM pg_tables WHERE tablename = 'half_done' UNION ALL SELECT 1 FROM _prisma_migrations WHERE migration_name = '29990101000000_broken'`);
      await client.end();
      expect(leftovers.rowCount).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
