import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Client } from 'pg';
import { createLogger, createMetricsRegistry, metricsCatalog } from '@atelier/observability';
import { appendAudit, createPrismaClient, type PrismaService } from '@atelier/persistence';
import { createTestDatabase, type TestDatabase } from '@atelier/testing';
import { AuditSealer } from './audit-sealer';
import { AuditSealerLoop } from './audit-sealer-loop';
import { verifyStoredChain } from './audit-verification';

// Real Postgres: the sealer's correctness is about transactions and visibility, which
// only the database can show.

describe(AuditSealer.name, () => {
  let db: TestDatabase;
  let prisma: PrismaService;
  const clients: Client[] = [];

  const connect = async () => {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    clients.push(client);
    return client;
  };
  const insert = (client: Client, subject: string) =>
    client.query(`INSERT INTO audit_events (actor, action, subject, data) VALUES ('service:test', 'step.queued', $1, '{"b": 1, "a": [1.50, "x"]}') RETURNING seq`, [subject]);
  const chain = async () =>
    (await prisma.$queryRaw<{ subject: string; seq: bigint; chain_pos: bigint | null; tx_id: string }[]>`
      SELECT subject, seq, chain_pos, tx_id::text FROM audit_events LEFT JOIN audit_chain USING (seq) ORDER BY chain_pos NULLS LAST, seq`).map((row) => ({
      subject: row.subject,
      seq: Number(row.seq),
      position: row.chain_pos === null ? null : Number(row.chain_pos),
      txId: BigInt(row.tx_id),
    }));
  const total = (batches: number[]) => batches.reduce((sum, n) => sum + n, 0);
  /**
   * Seals until `expected` events are sealed. Transaction ids are server-wide, so another
   * database's open transaction on a shared server can hold sealing back for a moment.
   */
  const sealAll = async (sealer: AuditSealer, expected: number) => {
    const batches: number[] = [];
    const deadline = Date.now() + 20_000;
    while (total(batches) < expected && Date.now() < deadline) {
      const { sealed } = await sealer.sealBatch();
      if (sealed > 0) batches.push(sealed);
      else await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await sealer.sealBatch()).sealed).toBe(0);
    return batches;
  };
  /** The chain order is (transaction id, seq): fixed once sealed, whatever the commit order. */
  const expectChainInTransactionOrder = async () => {
    const order = (await chain()).filter((event) => event.position !== null).map((event) => [event.txId, event.seq] as const);
    const sorted = [...order].sort(([ta, sa], [tb, sb]) => (ta === tb ? sa - sb : ta < tb ? -1 : 1));
    expect(order).toEqual(sorted);
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 4 });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.end()));
  });

  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  it('seals committed events into a chain that verifies, in batches', async () => {
    await prisma.$transaction((tx) =>
      appendAudit(
        tx,
        ...Array.from({ length: 25 }, (_, i) => ({ action: 'step.queued' as const, actor: 'service:test' as const, subject: `batch:${i}`, data: { i, nested: { z: 1, a: 'é' } } })),
      ),
    );
    const sealer = new AuditSealer(prisma, 10);
    expect(await sealAll(sealer, 25)).toEqual([10, 10, 5]);
    expect(await verifyStoredChain(prisma, {})).toEqual({ ok: true, checked: 25, firstBadPosition: null, reason: null, from: 1, to: 25 });
    expect((await chain()).map((event) => event.position)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  });

  it('never seals past an event whose transaction is still open, even if later events committed first', async () => {
    const sealer = new AuditSealer(prisma);
    const slow = await connect();
    const fast = await connect();
    await slow.query('BEGIN');
    await insert(slow, 'slow:1'); // takes a seq (and a transaction id) first
    await insert(fast, 'fast:1'); // a later seq, committed at once
    expect((await sealer.sealBatch()).sealed).toBe(0);
    await insert(slow, 'slow:2'); // a seq after fast:1, in the older transaction
    expect((await sealer.sealBatch()).sealed).toBe(0);
    expect(await sealer.lagSeconds()).toBeGreaterThan(0);
    await slow.query('COMMIT');

    expect(total(await sealAll(sealer, 3))).toBe(3);
    const sealed = (await chain()).filter((event) => /^(slow|fast):/.test(event.subject));
    // Chain order is (transaction, seq): fixed once sealed, whatever the commit order.
    expect(sealed.map((event) => event.subject)).toEqual(['slow:1', 'slow:2', 'fast:1']);
    expect(sealed[1]!.seq).toBeGreaterThan(sealed[2]!.seq);
    await expectChainInTransactionOrder();
    expect(await sealer.lagSeconds()).toBe(0);
    expect((await verifyStoredChain(prisma, {})).ok).toBe(true);
  });

  it('is not held up by an open transaction of another database on the same server', async () => {
    const elsewhere = new Client({ connectionString: process.env['TEST_DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres' });
    await elsewhere.connect();
    clients.push(elsewhere);
    await elsewhere.query('BEGIN');
    await elsewhere.query('SELECT pg_current_xact_id()'); // holds a transaction id, as a writer would
    await insert(await connect(), 'while-another-database-writes');
    expect(total(await sealAll(new AuditSealer(prisma), 1))).toBe(1);
    await elsewhere.query('ROLLBACK');
  });

  it('is not held up by a rolled-back transaction, and seals what commits after it', async () => {
    const sealer = new AuditSealer(prisma);
    const client = await connect();
    await client.query('BEGIN');
    await insert(client, 'rolled-back');
    await client.query('ROLLBACK');
    await insert(client, 'after-rollback');
    expect(total(await sealAll(sealer, 1))).toBe(1);
    const events = await chain();
    expect(events.map((event) => event.subject)).not.toContain('rolled-back');
    expect(events.every((event) => event.position !== null)).toBe(true);
    expect((await verifyStoredChain(prisma, {})).ok).toBe(true);
  });

  it('lets one replica seal at a time: a second sealer backs off while the lock is held', async () => {
    const holder = await connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT pg_advisory_xact_lock(${0x6175_6469_7473_6c72n}::bigint)`);
    await insert(await connect(), 'while-locked');
    const sealer = new AuditSealer(prisma);
    expect(await sealer.sealBatch()).toEqual({ locked: false, sealed: 0, head: null, full: false, delays: [] });
    await holder.query('ROLLBACK');
    expect(total(await sealAll(sealer, 1))).toBe(1);
    await expectChainInTransactionOrder();
  });

  it('bounds a batch by the stored bytes of its data too, and always takes at least one event', async () => {
    const client = await connect();
    // Incompressible text, as a captured prompt full of ids can be: about 60 kB stored each.
    for (let i = 0; i < 6; i++) {
      await client.query(`INSERT INTO audit_events (actor, action, subject, data) VALUES ('service:test', 'llm.call', $1, $2::jsonb)`, [
        `big:${i}`,
        JSON.stringify({ prompt: randomBytes(45_000).toString('base64') }),
      ]);
    }
    await client.query(`INSERT INTO audit_events (actor, action, subject, data) VALUES ('service:test', 'llm.call', 'huge', $1::jsonb)`, [
      JSON.stringify({ prompt: randomBytes(300_000).toString('base64') }),
    ]);
    const sealer = new AuditSealer(prisma, { batchSize: 1000, batchBytes: 150_000 });
    const batches: [number, boolean][] = [];
    let result = await sealer.sealBatch();
    for (; result.sealed > 0; result = await sealer.sealBatch()) batches.push([result.sealed, result.full]);
    // 60 kB events: two fit under 150 kB, the third crosses the cap and closes the batch;
    // the 400 kB one is over the cap alone and still sealed. Each batch says more may wait.
    expect(batches).toEqual([
      [3, true],
      [3, true],
      [1, true],
    ]);
    expect(result.full).toBe(false);
    expect((await verifyStoredChain(prisma, {})).ok).toBe(true);
  });

  it('tells an idle loop whether anything waits, so a quiet tick skips the transaction and the next event is still sealed', async () => {
    const sealer = new AuditSealer(prisma);
    await sealAll(sealer, 0);
    expect(await sealer.hasPendingEvents()).toBe(false);
    // The loop's client, counting the sealer's transactions.
    let transactions = 0;
    const transaction = prisma.$transaction.bind(prisma) as (...args: unknown[]) => unknown;
    const counted = {
      $transaction: (...args: unknown[]) => {
        transactions += 1;
        return transaction(...args);
      },
      $queryRaw: prisma.$queryRaw.bind(prisma),
    };
    const loop = new AuditSealerLoop(counted as unknown as PrismaService, { intervalMs: 1000, batchSize: 100 }, createLogger({ service: 'test', level: 'silent' }), metricsCatalog(createMetricsRegistry('orchestrator')));

    expect(await loop.tick()).toMatchObject([{ sealed: 0 }]);
    expect(transactions).toBe(1);
    expect(await loop.tick()).toEqual([]);
    expect(transactions).toBe(1);

    await insert(await connect(), 'after-a-quiet-spell');
    expect(await sealer.hasPendingEvents()).toBe(true);
    const deadline = Date.now() + 20_000;
    let sealed = 0;
    while (sealed === 0 && Date.now() < deadline) {
      sealed = total((await loop.tick()).map((result) => result.sealed));
      if (sealed === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(sealed).toBe(1);
    expect(await sealer.hasPendingEvents()).toBe(false);
  });

  it('stops loudly while the event at the head of the chain is missing, and resumes once it is restored', async () => {
    const sealer = new AuditSealer(prisma);
    await sealAll(sealer, 0);
    const client = await connect();
    const headSeq = Number((await insert(client, 'head-to-lose')).rows[0].seq);
    expect(total(await sealAll(sealer, 1))).toBe(1);
    const headPosition = (await chain()).find((event) => event.subject === 'head-to-lose')?.position ?? 0;
    expect(headPosition).toBeGreaterThan(0);
    // Behind the triggers' back, as only the owner or a superuser can.
    await client.query(
      `BEGIN; SET LOCAL session_replication_role = replica;
       CREATE TEMP TABLE lost AS SELECT * FROM audit_events WHERE seq = ${headSeq}; DELETE FROM audit_events WHERE seq = ${headSeq}; COMMIT`,
    );
    // Nothing new to seal, but an idle loop must still run the seal that reports this.
    expect(await sealer.hasPendingEvents()).toBe(true);
    await insert(client, 'after-the-lost-head');

    await expect(sealer.sealBatch()).rejects.toThrow(`position ${headPosition}) is event seq ${headSeq}, which is missing`);
    expect(await sealer.lagSeconds()).toBeGreaterThan(0);
    expect(await verifyStoredChain(prisma, {})).toMatchObject({ ok: false, firstBadPosition: headPosition, reason: expect.stringContaining('missing') });

    await client.query('BEGIN; SET LOCAL session_replication_role = replica; INSERT INTO audit_events SELECT * FROM lost; COMMIT');
    expect(total(await sealAll(sealer, 1))).toBe(1);
    expect((await chain()).find((event) => event.subject === 'after-the-lost-head')?.position).toBe(headPosition + 1);
    expect(await sealer.lagSeconds()).toBe(0);
    expect((await verifyStoredChain(prisma, {})).ok).toBe(true);
  });

  it('pins its transaction to READ COMMITTED, whatever isolation the database or role defaults to', async () => {
    const serializable = createPrismaClient({ connectionString: `${db.url}${db.url.includes('?') ? '&' : '?'}options=-c%20default_transaction_isolation%3Dserializable`, poolMax: 1 });
    try {
      const [{ level }] = (await serializable.$queryRaw<{ level: string }[]>`SELECT current_setting('transaction_isolation') AS level`) as [{ level: string }];
      expect(level).toBe('serializable');
      await insert(await connect(), 'under-serializable-default');
      expect(total(await sealAll(new AuditSealer(serializable), 1))).toBe(1);
    } finally {
      await serializable.$disconnect();
    }
  });

  describe('a poisoned event (one the chain cannot hash)', () => {
    const lines: { level: string; msg: string; seq?: number }[] = [];
    const logger = createLogger({
      service: 'test',
      level: 'info',
      destination: new Writable({
        write(chunk, _encoding, done) {
          lines.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    });

    it('seals everything before it, then stops there loudly: an error log once, a failure counter, a growing lag', async () => {
      await sealAll(new AuditSealer(prisma), 0);
      const client = await connect();
      await insert(client, 'before-poison');
      // jsonb keeps any decimal; an IEEE double cannot hold 1e400, so canonical JSON has no form for it.
      const poisoned = await client.query(`INSERT INTO audit_events (actor, action, subject, data) VALUES ('service:test', 'step.queued', 'poison', '{"n": 1e400}') RETURNING seq`);
      const poisonSeq = Number(poisoned.rows[0].seq);
      await insert(client, 'after-poison');

      const registry = createMetricsRegistry('orchestrator');
      const metrics = metricsCatalog(registry);
      const loop = new AuditSealerLoop(prisma, { intervalMs: 1000, batchSize: 100 }, logger, metrics);
      const deadline = Date.now() + 20_000;
      let results = await loop.tick();
      while (!results.some((result) => result.blocked) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        results = await loop.tick();
      }
      expect(results.at(-1)).toMatchObject({ blocked: { seq: poisonSeq, reason: expect.stringContaining('NaN or Infinity') } });
      expect((await chain()).find((event) => event.subject === 'before-poison')?.position).not.toBeNull();
      expect((await chain()).find((event) => event.subject === 'after-poison')?.position).toBeNull();
      expect((await loop.tick()).at(-1)).toMatchObject({ sealed: 0, blocked: { seq: poisonSeq } });

      const blockedLogs = lines.filter((line) => line.level === 'error');
      expect(blockedLogs).toHaveLength(1);
      expect(blockedLogs[0]).toMatchObject({ seq: poisonSeq, msg: expect.stringContaining(`blocked at event seq ${poisonSeq}`) });
      const exposition = await registry.metrics();
      expect(exposition).toMatch(/atelier_audit_seal_failures_total\{reason="unhashable_event",service="orchestrator"\} [2-9]/);
      await loop.sampleLag();
      expect((await metrics.auditSealLag.get()).values[0]?.value).toBeGreaterThan(0);
      expect((await verifyStoredChain(prisma, {})).ok).toBe(true);

      // The repair docs/audit.md describes (as the table owner, before it is sealed): a value JSON can carry.
      await client.query(
        `BEGIN; SET LOCAL session_replication_role = replica;
         UPDATE audit_events SET data = '{"n": "1e400"}' WHERE seq = ${poisonSeq} AND NOT EXISTS (SELECT FROM audit_chain WHERE seq = ${poisonSeq}); COMMIT`,
      );
      const resumed = await loop.tick();
      expect(resumed.reduce((sum, result) => sum + result.sealed, 0)).toBe(2);
      expect(lines.at(-1)).toMatchObject({ level: 'info', msg: 'audit sealing resumed past the event that blocked it' });
      expect(await registry.metrics()).toMatch(/atelier_audit_seal_delay_seconds_count\{service="orchestrator"\} [1-9]/);
      await loop.sampleLag();
      expect((await metrics.auditSealLag.get()).values[0]?.value).toBe(0);
      expect((await verifyStoredChain(prisma, {})).ok).toBe(true);
    });
  });
});
