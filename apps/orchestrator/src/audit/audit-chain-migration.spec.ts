import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { chainHash, GENESIS_HASH } from '@atelier/contracts';
import { applyMigrations, createPrismaClient, dropDatabase, ensureDatabase, type PrismaService } from '@atelier/persistence';
import { repoRoot } from '@atelier/testing';
import { AuditSealer } from './audit-sealer';
import { verifyStoredChain } from './audit-verification';
import { AUDIT_EVENT_COLUMNS, type AuditEventRow, toChainEvent } from './audit-rows';

// A database whose events were sealed while the chain lived in audit_events' own columns
// (chain_pos, prev_hash, hash) must keep that chain, intact and verifiable, when the chain
// moves to audit_chain; and sealing must carry on from it.

const MIGRATIONS = join(repoRoot(), 'prisma', 'migrations');
const CHAIN_TABLE = '20261206160000_keep_audit_chain_in_its_own_table';

describe(`migration ${CHAIN_TABLE}`, () => {
  let oldLayout: string;
  const opened: { url: string; client: Client; prisma?: PrismaService }[] = [];

  /** A database migrated up to the migration before the chain table: the old layout. */
  const databaseOfTheOldLayout = async () => {
    const url = new URL(process.env['TEST_DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
    url.pathname = `/atelier_chain_migration_${randomBytes(4).toString('hex')}`;
    await ensureDatabase(url.toString());
    await applyMigrations(url.toString(), oldLayout);
    const client = new Client({ connectionString: url.toString() });
    await client.connect();
    const db: (typeof opened)[number] = { url: url.toString(), client };
    opened.push(db);
    return db;
  };
  const insertEvents = (client: Client, subjects: string[]) =>
    client.query(
      `INSERT INTO audit_events (actor, action, subject, data)
       SELECT 'service:test', 'step.queued', subject, jsonb_build_object('subject', subject, 'nested', jsonb_build_object('z', 1.5, 'a', 'é'))
         FROM unnest($1::text[]) WITH ORDINALITY AS s(subject, ord) ORDER BY ord`,
      [subjects],
    );
  /** What the sealer of the old layout did: fill the chain columns, in (tx_id, seq) order. */
  const sealTheOldWay = async (client: Client, rows: AuditEventRow[]) => {
    const head = (await client.query<{ chain_pos: string; hash: string }>('SELECT chain_pos, hash FROM audit_events WHERE chain_pos IS NOT NULL ORDER BY chain_pos DESC LIMIT 1')).rows[0];
    let position = head ? Number(head.chain_pos) : 0;
    let prevHash = head?.hash ?? GENESIS_HASH;
    const seals = rows.map((row) => {
      position += 1;
      const hash = chainHash(prevHash, toChainEvent(row, position));
      const seal = { seq: String(row.seq), pos: position, prev: prevHash, hash };
      prevHash = hash;
      return seal;
    });
    await client.query(
      `UPDATE audit_events AS e SET chain_pos = v.pos, prev_hash = v.prev, hash = v.hash
         FROM jsonb_to_recordset($1::jsonb) AS v(seq bigint, pos bigint, prev text, hash text)
        WHERE e.seq = v.seq AND e.chain_pos IS NULL`,
      [JSON.stringify(seals)],
    );
    return seals;
  };
  const eventsInChainOrder = async (client: Client, limit: number) =>
    (await client.query<AuditEventRow>(`SELECT ${AUDIT_EVENT_COLUMNS.sql} FROM audit_events ORDER BY tx_id, seq LIMIT ${limit}`)).rows.map((row) => ({ ...row, seq: BigInt(row.seq) }));

  beforeAll(async () => {
    oldLayout = await mkdtemp(join(tmpdir(), 'atelier-old-layout-'));
    for (const name of await readdir(MIGRATIONS)) {
      if (name < CHAIN_TABLE) await cp(join(MIGRATIONS, name), join(oldLayout, name), { recursive: true });
    }
  });

  afterAll(async () => {
    for (const db of opened.splice(0)) {
      await db.prisma?.$disconnect();
      await db.client.end();
      await dropDatabase(db.url);
    }
    await rm(oldLayout, { recursive: true, force: true });
  });

  it('moves a chain sealed in the old layout to audit_chain intact, and the sealer carries on after it', async () => {
    const db = await databaseOfTheOldLayout();
    await insertEvents(db.client, ['a1', 'a2', 'a3', 'a4', 'a5']);
    await insertEvents(db.client, ['b1', 'b2', 'b3']);
    const sealed = [...(await sealTheOldWay(db.client, await eventsInChainOrder(db.client, 4))), ...(await sealTheOldWay(db.client, (await eventsInChainOrder(db.client, 6)).slice(4)))];
    await insertEvents(db.client, ['c1', 'c2']); // written, not sealed yet when the migration runs

    expect((await applyMigrations(db.url, MIGRATIONS)).applied[0]).toBe(CHAIN_TABLE);

    const links = (await db.client.query('SELECT chain_pos::int AS pos, seq::text, prev_hash AS prev, hash FROM audit_chain ORDER BY chain_pos')).rows;
    expect(links).toEqual(sealed);
    const columns = (await db.client.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_events'`)).rows.map((row) => row.column_name);
    expect(columns.filter((column) => ['chain_pos', 'prev_hash', 'hash'].includes(column))).toEqual([]);

    db.prisma = createPrismaClient({ connectionString: db.url, poolMax: 2 });
    expect(await verifyStoredChain(db.prisma, {})).toEqual({ ok: true, checked: 6, firstBadPosition: null, reason: null, from: 1, to: 6 });

    const sealer = new AuditSealer(db.prisma);
    const deadline = Date.now() + 20_000;
    let total = 0;
    while (total < 4 && Date.now() < deadline) {
      const { sealed: n } = await sealer.sealBatch();
      total += n;
      if (n === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(total).toBe(4);
    expect(await verifyStoredChain(db.prisma, {})).toEqual({ ok: true, checked: 10, firstBadPosition: null, reason: null, from: 1, to: 10 });
    const order = (await db.client.query('SELECT subject FROM audit_chain JOIN audit_events USING (seq) ORDER BY chain_pos')).rows.map((row) => row.subject);
    expect(order).toEqual(['a1', 'a2', 'a3', 'a4', 'a5', 'b1', 'b2', 'b3', 'c1', 'c2']);
  });

  it('refuses to migrate, changing nothing, when an unsealed event sorts before the head (the new sealer would never reach it)', async () => {
    const db = await databaseOfTheOldLayout();
    await insertEvents(db.client, ['skipped', 'sealed']);
    // Only tampering gets here: the second event sealed while the first is not.
    await sealTheOldWay(db.client, (await eventsInChainOrder(db.client, 2)).slice(1));

    await expect(applyMigrations(db.url, MIGRATIONS)).rejects.toThrow(/unsealed events that sort before the chain's head/);
    expect((await db.client.query(`SELECT to_regclass('audit_chain') AS chain, count(chain_pos)::int AS sealed FROM audit_events`)).rows).toEqual([{ chain: null, sealed: 1 }]);
  });
});
