import { appendAudit, createPrismaClient, type PrismaService } from '@atelier/persistence';
import { createTestDatabase, type TestDatabase } from '@atelier/testing';
import { AuditSealer } from './audit-sealer';
import { verifyStoredChain, VerifyRangeTooLargeError } from './audit-verification';

// Server-side verification of ranges, on a real sealed chain of 12 events.

describe(verifyStoredChain.name, () => {
  let db: TestDatabase;
  let prisma: PrismaService;
  const hashes: string[] = [];
  const hashAt = (position: number) => hashes[position - 1] as string;

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 2 });
    await prisma.$transaction((tx) =>
      appendAudit(tx, ...Array.from({ length: 12 }, (_, i) => ({ action: 'step.queued' as const, actor: 'service:test' as const, subject: `step:${i}`, data: { i } }))),
    );
    const sealer = new AuditSealer(prisma);
    const deadline = Date.now() + 20_000;
    let sealed = 0;
    while (sealed < 12 && Date.now() < deadline) {
      const result = await sealer.sealBatch();
      sealed += result.sealed;
      if (result.sealed === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const rows = await prisma.$queryRaw<{ hash: string }[]>`SELECT hash FROM audit_chain ORDER BY chain_pos`;
    hashes.push(...rows.map((row) => row.hash));
    expect(hashes).toHaveLength(12);
  });

  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  it('accepts an intact range with a head anchored before it, compared with the stored hash there', async () => {
    expect(await verifyStoredChain(prisma, { from: 6, head: { position: 3, hash: hashAt(3) } })).toEqual({
      ok: true,
      checked: 7,
      firstBadPosition: null,
      reason: null,
      from: 6,
      to: 12,
    });
    // A bare hash is located in the chain first (through its successor's prev_hash).
    expect(await verifyStoredChain(prisma, { from: 6, head: { hash: hashAt(3) } })).toMatchObject({ ok: true, checked: 7 });
    expect(await verifyStoredChain(prisma, { from: 6, head: { hash: hashAt(12) } })).toMatchObject({ ok: true, checked: 7 });
    expect(await verifyStoredChain(prisma, { from: 6, head: { position: 8, hash: hashAt(8) } })).toMatchObject({ ok: true });
  });

  it('reports a head before the range that the stored chain no longer holds', async () => {
    expect(await verifyStoredChain(prisma, { from: 6, head: { position: 3, hash: hashAt(4) } })).toMatchObject({
      ok: false,
      firstBadPosition: 3,
      reason: expect.stringContaining('differs from the anchored head'),
    });
    expect(await verifyStoredChain(prisma, { from: 6, head: { hash: 'd'.repeat(64) } })).toMatchObject({ ok: false, reason: expect.stringContaining('before the anchored head') });
  });

  it('bounds what one request may check: without from, the last positions; a longer range is refused', async () => {
    expect(await verifyStoredChain(prisma, { maxPositions: 4 })).toMatchObject({ ok: true, checked: 4, from: 9, to: 12 });
    expect(await verifyStoredChain(prisma, { maxPositions: 4, to: 6 })).toMatchObject({ ok: true, checked: 4, from: 3, to: 6 });
    expect(await verifyStoredChain(prisma, { maxPositions: 4, from: 2, to: 5 })).toMatchObject({ ok: true, checked: 4 });
    await expect(verifyStoredChain(prisma, { maxPositions: 4, from: 2 })).rejects.toThrow(VerifyRangeTooLargeError);
    expect(await verifyStoredChain(prisma, {})).toMatchObject({ ok: true, checked: 12, from: 1 });
  });

  it('stops when the client has gone away', async () => {
    const gone = new AbortController();
    gone.abort();
    await expect(verifyStoredChain(prisma, { signal: gone.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  // The chain is kept apart from the events (audit_chain): removing either the event or its
  // link loses the position.
  it.each([
    ['event', 'audit_events'],
    ['link', 'audit_chain'],
  ])('names a position just before the range whose %s was deleted, which the range cannot join', async (_what, table) => {
    const verdict = await prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe('SET LOCAL session_replication_role = replica');
      const atFive = `seq = (SELECT seq FROM audit_chain WHERE chain_pos = 5)`;
      await tx.$executeRawUnsafe(`CREATE TEMP TABLE saved ON COMMIT DROP AS SELECT * FROM ${table} WHERE ${atFive}`);
      await tx.$executeRawUnsafe(`DELETE FROM ${table} WHERE ${atFive}`);
      const inside = await verifyStoredChain(tx as unknown as PrismaService, { from: 6 });
      await tx.$executeRawUnsafe(`INSERT INTO ${table} SELECT * FROM saved`);
      return inside;
    });
    expect(verdict).toMatchObject({ ok: false, firstBadPosition: 5, reason: 'position 5, before the range, is missing: the event was deleted' });
    expect((await verifyStoredChain(prisma, {})).ok).toBe(true);
  });
});
