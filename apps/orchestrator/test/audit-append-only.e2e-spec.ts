import { Client } from 'pg';
import { createPrismaClient, type PrismaService } from '@atelier/persistence';
import { createTestDatabase, type TestDatabase } from '@atelier/testing';
import { AuditSealer } from '../src/audit/audit-sealer';
import { verifyStoredChain } from '../src/audit/audit-verification';

// The database itself keeps audit_events and the chain over them (audit_chain)
// append-only: a trigger for every role, and the grants of the application role
// (atelier_app, from the migrations) for the services.

describe('audit_events and audit_chain are append-only in the database', () => {
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
    expect((await app.query('SELECT chain_pos FROM audit_chain WHERE seq = $1', [seq])).rows[0].chain_pos).not.toBeNull();
    expect((await verifyStoredChain(appPrisma, {})).ok).toBe(true);

    // No UPDATE of any column of an event, its transaction id included.
    expect(await refusal(app, `UPDATE audit_events SET subject = 'edited' WHERE seq = ${seq}`)).toMatch(/permission denied/);
    expect(await refusal(app, `UPDATE audit_events SET tx_id = '1' WHERE seq = ${seq}`)).toMatch(/permission denied/);
    expect(await refusal(app, `DELETE FROM audit_events WHERE seq = ${seq}`)).toMatch(/permission denied/);
    expect(await refusal(app, 'TRUNCATE audit_events')).toMatch(/permission denied/);
    // Nor of a seal: the chain is insert-only for it too.
    expect(await refusal(app, `UPDATE audit_chain SET hash = repeat('a', 64) WHERE seq = ${seq}`)).toMatch(/permission denied/);
    expect(await refusal(app, `DELETE FROM audit_chain WHERE seq = ${seq}`)).toMatch(/permission denied/);
    expect(await refusal(app, 'TRUNCATE audit_chain')).toMatch(/permission denied/);
    // Not the owner: it cannot switch the triggers off or drop them either.
    for (const [table, trigger] of [
      ['audit_events', 'audit_events_append_only_rows'],
      ['audit_chain', 'audit_chain_append_only_rows'],
    ]) {
      expect(await refusal(app, `ALTER TABLE ${table} DISABLE TRIGGER ${trigger}`)).toMatch(/must be owner/);
      expect(await refusal(app, `DROP TRIGGER ${trigger} ON ${table}`)).toMatch(/must be owner/);
    }
    expect((await app.query('SELECT subject FROM audit_events WHERE seq = $1', [seq])).rows[0].subject).toBe('by-the-app');
    // Nor can it pick an event's transaction id or backdate it.
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

  it('refuses UPDATE, DELETE and TRUNCATE of events even to the owner', async () => {
    const seq = (await insertEvent(owner, 'by-the-owner')).rows[0].seq as string;
    expect(await refusal(owner, `UPDATE audit_events SET subject = 'edited' WHERE seq = ${seq}`)).toMatch(/audit_events is append-only: UPDATE refused/);
    expect(await refusal(owner, `UPDATE audit_events SET tx_id = tx_id WHERE seq = ${seq}`)).toMatch(/audit_events is append-only: UPDATE refused/);
    expect(await refusal(owner, `DELETE FROM audit_events WHERE seq = ${seq}`)).toMatch(/audit_events is append-only: DELETE refused/);
    expect(await refusal(owner, 'TRUNCATE audit_events')).toMatch(/audit_events is append-only: TRUNCATE refused/);
    expect((await owner.query(`SELECT subject FROM audit_events WHERE seq = ${seq}`)).rows).toEqual([{ subject: 'by-the-owner' }]);
  });

  it('keeps seals final, even for the owner: each continues the chain, once per event and per predecessor', async () => {
    const seq = (await insertEvent(owner, 'sealed-by-the-owner')).rows[0].seq as string;
    const other = (await insertEvent(owner, 'another')).rows[0].seq as string;
    const seal = (position: number, eventSeq: string, prev: string, hash: string) =>
      refusal(owner, `INSERT INTO audit_chain (chain_pos, seq, prev_hash, hash) VALUES (${position}, ${eventSeq}, repeat('${prev}', 64), repeat('${hash}', 64))`);
    expect(await seal(0, seq, 'b', 'c')).toMatch(/audit_chain_chain_pos_check/);
    expect(await seal(1000, seq, 'B', 'c')).toMatch(/audit_chain_hashes_check/);

    // A seal continues the chain: the next position, linked to the head's hash, sealing the
    // next event in (tx_id, seq) order. Sealing a later event next would leave the events
    // in between out of the chain for good.
    const head = (await owner.query('SELECT chain_pos::int AS pos, seq::text, prev_hash, hash FROM audit_chain ORDER BY chain_pos DESC LIMIT 1')).rows[0];
    const link = (position: number, eventSeq: string, prev: string) =>
      refusal(owner, `INSERT INTO audit_chain (chain_pos, seq, prev_hash, hash) VALUES (${position}, ${eventSeq}, '${prev}', repeat('d', 64))`);
    expect(await seal(1000, seq, 'b', 'c')).toMatch(/position 1000 does not continue the chain/);
    expect(await link(head.pos + 1, seq, 'b'.repeat(64))).toMatch(/does not continue the chain/);
    expect(await link(head.pos + 1, other, head.hash)).toMatch(/does not continue the chain/);
    // No second seal of an event, and no fork: two positions cannot claim one predecessor.
    expect(await link(head.pos + 1, head.seq, head.hash)).toMatch(/audit_chain_seq_key/);
    expect(await link(head.pos + 1, seq, head.prev_hash)).toMatch(/audit_chain_prev_hash_key/);
    expect(await refusal(owner, `UPDATE audit_chain SET hash = repeat('d', 64) WHERE seq = ${head.seq}`)).toMatch(/audit_chain is append-only: UPDATE refused/);
    expect(await refusal(owner, `DELETE FROM audit_chain WHERE seq = ${head.seq}`)).toMatch(/audit_chain is append-only: DELETE refused/);
    expect(await refusal(owner, 'TRUNCATE audit_chain')).toMatch(/audit_chain is append-only: TRUNCATE refused/);

    // The sealer carries on over every event, in order.
    await new AuditSealer(appPrisma).sealBatch();
    const chain = await owner.query(`SELECT e.subject FROM audit_chain c JOIN audit_events e USING (seq) WHERE c.chain_pos > ${head.pos} ORDER BY c.chain_pos`);
    expect(chain.rows.map((row) => row.subject).filter((subject) => subject.includes('owner') || subject === 'another')).toEqual(['by-the-owner', 'sealed-by-the-owner', 'another']);
    expect((await owner.query('SELECT count(*)::int AS n FROM audit_events e WHERE NOT EXISTS (SELECT FROM audit_chain c WHERE c.seq = e.seq)')).rows).toEqual([{ n: 0 }]);
    expect((await verifyStoredChain(appPrisma, {})).ok).toBe(true);
  });

  it('checks a statement of many seals link by link, naming the first that does not continue the chain', async () => {
    await new AuditSealer(appPrisma).sealBatch();
    for (const subject of ['batch-1', 'batch-2', 'batch-3']) await insertEvent(owner, subject);
    const head = (await owner.query('SELECT chain_pos::int AS pos, hash FROM audit_chain ORDER BY chain_pos DESC LIMIT 1')).rows[0];
    const next = (await owner.query('SELECT e.seq::text FROM audit_events e WHERE NOT EXISTS (SELECT FROM audit_chain c WHERE c.seq = e.seq) ORDER BY e.tx_id, e.seq')).rows.map((row) => row.seq as string);
    expect(next).toHaveLength(3);
    const hashes = ['1', '2', '3'].map((digit) => digit.repeat(64));
    // Links as the sealer writes them, one statement: [position, event, prev_hash, hash] each.
    const batch = (links: [number, string, string, string][]) =>
      refusal(owner, `INSERT INTO audit_chain (chain_pos, seq, prev_hash, hash) VALUES ${links.map(([pos, seq, prev, hash]) => `(${pos}, ${seq}, '${prev}', '${hash}')`).join(', ')}`);
    const valid: [number, string, string, string][] = next.map((seq, i) => [head.pos + 1 + i, seq, i === 0 ? head.hash : hashes[i - 1], hashes[i]]);

    // The second link names the wrong predecessor.
    expect(await batch(valid.map((link, i) => (i === 1 ? [link[0], link[1], 'f'.repeat(64), link[3]] : link)))).toMatch(new RegExp(`position ${head.pos + 2} does not continue the chain`));
    // The second and third links seal their events in the wrong order.
    expect(await batch(valid.map((link, i) => (i === 0 ? link : [link[0], next[3 - i], link[2], link[3]])))).toMatch(new RegExp(`position ${head.pos + 2} does not continue the chain`));
    // A position is skipped.
    expect(await batch(valid.map((link, i) => (i === 2 ? [link[0] + 1, link[1], link[2], link[3]] : link)))).toMatch(new RegExp(`position ${head.pos + 4} does not continue the chain`));
    // The first link does not follow the head.
    expect(await batch(valid.map(([pos, seq, prev, hash]) => [pos + 1, seq, prev, hash]))).toMatch(new RegExp(`position ${head.pos + 2} does not continue the chain`));
    // The links as they should be are accepted (rolled back: their hashes are made up).
    await owner.query('BEGIN');
    expect(await batch(valid)).toBe('accepted');
    await owner.query('ROLLBACK');
    expect((await owner.query('SELECT count(*)::int AS n FROM audit_chain WHERE chain_pos > $1', [head.pos])).rows).toEqual([{ n: 0 }]);

    await new AuditSealer(appPrisma).sealBatch();
    expect((await verifyStoredChain(appPrisma, {})).ok).toBe(true);
  });
});
