import { Client } from 'pg';
import { createPrismaClient, type PrismaService } from '@atelier/persistence';
import { createTestDatabase, type TestDatabase } from '@atelier/testing';
import { AuditSealer } from '../src/audit/audit-sealer';
import { verifyStoredChain } from '../src/audit/audit-verification';

// The database itself keeps audit_events append-only: a trigger for every role, and the
// grants of the application role (atelier_app, from the migration) for the services.

describe('audit_events is append-only in the database', () => {
  let db: TestDatabase;
  let owner: Client;
  let app: Client;
  let appPrisma: PrismaService;
  let appUrl: string;

  const insertEvent = (client: Client, subject: string) =>
    client.query(`INSERT INTO audit_events (actor, action, subject) VALUES ('service:test', 'task.submitted', $1) RETURNING seq`, [subject]);
  const refusal = (client: Client, statement: string) =>
    client.query(statement).then(
      () => 'accepted',
      (error: Error) => error.message,
    );

  beforeAll(async () => {
    db = await createTestDatabase();
    owner = new Client({ connectionString: db.url });
    await owner.connect();
    // A login role of the application, as an operator creates it (docs/audit.md).
    appUrl = await db.createAppLogin();
    app = new Client({ connectionString: appUrl });
    await app.connect();
    appPrisma = createPrismaClient({ connectionString: appUrl, poolMax: 2 });
  });

  afterAll(async () => {
    await appPrisma?.$disconnect();
    await app?.end();
    await owner?.end();
    await db?.drop();
  });

  it('lets the application role write audit events and seal them, and nothing else', async () => {
    const { rows } = await insertEvent(app, 'by-the-app');
    const seq = rows[0].seq as string;
    await new AuditSealer(appPrisma).sealBatch();
    expect((await app.query('SELECT chain_pos FROM audit_events WHERE seq = $1', [seq])).rows[0].chain_pos).not.toBeNull();
    expect((await verifyStoredChain(appPrisma, {})).ok).toBe(true);

    expect(await refusal(app, `UPDATE audit_events SET subject = 'edited' WHERE seq = ${seq}`)).toMatch(/permission denied/);
    expect(await refusal(app, `DELETE FROM audit_events WHERE seq = ${seq}`)).toMatch(/permission denied/);
    expect(await refusal(app, 'TRUNCATE audit_events')).toMatch(/permission denied/);
    // Not the owner: it cannot switch the trigger off or drop it either.
    expect(await refusal(app, 'ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only_rows')).toMatch(/must be owner/);
    expect(await refusal(app, 'DROP TRIGGER audit_events_append_only_rows ON audit_events')).toMatch(/must be owner/);
    // The chain columns it may write are still guarded by the trigger once filled.
    expect(await refusal(app, `UPDATE audit_events SET hash = repeat('a', 64) WHERE seq = ${seq}`)).toMatch(/append-only: UPDATE refused/);
    expect((await app.query('SELECT subject FROM audit_events WHERE seq = $1', [seq])).rows[0].subject).toBe('by-the-app');
    // Nor can it insert an event that claims a chain position, pick its transaction id or backdate it.
    expect(
      await refusal(app, `INSERT INTO audit_events (actor, action, subject, chain_pos, prev_hash, hash) VALUES ('service:x', 'task.submitted', 'forged', 99, repeat('0', 64), repeat('f', 64))`),
    ).toMatch(/inserted unsealed/);
    const stamped = await app.query(
      `INSERT INTO audit_events (actor, action, subject, tx_id, occurred_at) VALUES ('service:x', 'task.submitted', 'stamped', '1', '2001-01-01T00:00:00Z')
       RETURNING tx_id::text = pg_current_xact_id()::text AS own_tx_id, occurred_at > now() - interval '1 minute' AS current_time`,
    );
    expect(stamped.rows[0]).toEqual({ own_tx_id: true, current_time: true });
  });

  it('leaves the application role its normal rights on the other tables, including tables later migrations create', async () => {
    await app.query(`INSERT INTO tenants (name) VALUES ('role-check')`);
    await app.query(`UPDATE tenants SET name = 'role-checked' WHERE name = 'role-check'`);
    await app.query(`DELETE FROM tenants WHERE name = 'role-checked'`);
    await owner.query('CREATE TABLE later_feature (id serial PRIMARY KEY, note text)');
    await app.query(`INSERT INTO later_feature (note) VALUES ('default privileges apply')`);
    expect((await app.query('SELECT count(*)::int AS n FROM later_feature')).rows[0].n).toBe(1);
    expect(await refusal(app, 'SELECT * FROM _prisma_migrations')).toMatch(/permission denied/);
  });

  it('refuses UPDATE, DELETE and TRUNCATE even to the owner, except filling the chain columns once', async () => {
    const seq = (await insertEvent(owner, 'by-the-owner')).rows[0].seq as string;
    expect(await refusal(owner, `UPDATE audit_events SET subject = 'edited' WHERE seq = ${seq}`)).toMatch(/append-only: UPDATE refused/);
    expect(await refusal(owner, `DELETE FROM audit_events WHERE seq = ${seq}`)).toMatch(/append-only: DELETE refused/);
    expect(await refusal(owner, 'TRUNCATE audit_events')).toMatch(/append-only: TRUNCATE refused/);
    const fill = (hash: string, extra = '') =>
      refusal(owner, `UPDATE audit_events SET chain_pos = 1000, prev_hash = repeat('b', 64), hash = repeat('${hash}', 64)${extra} WHERE seq = ${seq}`);
    expect(await fill('c', `, subject = 'smuggled'`)).toMatch(/append-only: UPDATE refused/);
    expect(await fill('c')).toBe('accepted');
    expect(await fill('d')).toMatch(/append-only: UPDATE refused/);
    expect(await refusal(owner, `UPDATE audit_events SET chain_pos = NULL, prev_hash = NULL, hash = NULL WHERE seq = ${seq}`)).toMatch(/append-only/);
    expect((await owner.query(`SELECT subject, chain_pos::int FROM audit_events WHERE seq = ${seq}`)).rows).toEqual([{ subject: 'by-the-owner', chain_pos: 1000 }]);
  });
});
