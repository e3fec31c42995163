import { chainHash, GENESIS_HASH } from '@atelier/contracts';
import { Prisma, type PrismaClient } from '@atelier/persistence';
import { AUDIT_COLUMNS, type AuditRow, toAuditEventView } from './audit-rows';

/**
 * The smallest transaction id still in progress in this database (prepared transactions
 * included), else the next id to be assigned. Read in its own statement: its snapshot is
 * taken before pg_stat_activity is read, so a transaction that ends in between is no
 * longer listed, and the NEXT statement's snapshot (the one that selects events) sees its
 * commit. Transactions of other databases on the same server are ignored on purpose: they
 * cannot write our events, and a long one must not stall our chain. (backend_xid is shown
 * to every role, so no extra privilege is needed.)
 */
const SEALING_HORIZON = Prisma.sql`
  SELECT COALESCE(
    (SELECT min(running) FROM pg_snapshot_xip(pg_current_snapshot()) AS running
      WHERE running::xid IN (SELECT backend_xid FROM pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL
                             UNION ALL
                             SELECT transaction FROM pg_prepared_xacts WHERE database = current_database())),
    pg_snapshot_xmax(pg_current_snapshot()))::text AS horizon`;

/** pg_try_advisory_xact_lock key: one sealer at a time across every orchestrator replica. */
export const SEALER_LOCK_KEY = 0x6175_6469_7473_6c72n; // "auditslr"

export interface SealResult {
  /** False when another replica holds the sealer lock (nothing was done). */
  locked: boolean;
  sealed: number;
  head: { position: number; hash: string } | null;
}

/**
 * Gives committed events their chain position, prev_hash and hash, one batch per
 * transaction, under a transaction-scoped advisory lock (released by commit, rollback or
 * a dead connection: a crashed replica never blocks the others).
 *
 * Which events: a writer's seq is drawn at INSERT but becomes visible only at COMMIT, so
 * a later seq often commits first. The chain order is (tx_id, seq), and the sealer takes
 * only events below a horizon: the oldest transaction of THIS database still in progress
 * (see SEALING_HORIZON). Every transaction below it has committed or aborted, and any
 * event yet to commit belongs to a transaction at or above it, so it sorts after
 * everything sealed now: the order is final the moment an event is sealed, and a seq still
 * held by an open transaction is never sealed past. Writers never wait (they only INSERT);
 * a long-open writing transaction delays sealing, which the lag metric shows.
 */
export class AuditSealer {
  constructor(
    private readonly prisma: Pick<PrismaClient, '$transaction' | '$queryRaw'>,
    readonly batchSize = 5_000,
  ) {}

  sealBatch(): Promise<SealResult> {
    return this.prisma.$transaction(
      async (tx) => {
        const [lock] = await tx.$queryRaw<{ locked: boolean }[]>`SELECT pg_try_advisory_xact_lock(${SEALER_LOCK_KEY}::bigint) AS locked`;
        if (!lock?.locked) return { locked: false, sealed: 0, head: null };

        const [head] = await tx.$queryRaw<{ chain_pos: bigint; hash: string }[]>`
          SELECT chain_pos, hash FROM audit_events WHERE chain_pos IS NOT NULL ORDER BY chain_pos DESC LIMIT 1`;
        let position = head ? Number(head.chain_pos) : 0;
        let prevHash = head?.hash ?? GENESIS_HASH;

        const [{ horizon }] = (await tx.$queryRaw<{ horizon: string }[]>(SEALING_HORIZON)) as [{ horizon: string }];
        const rows = await tx.$queryRaw<AuditRow[]>`
          SELECT ${AUDIT_COLUMNS} FROM audit_events
           WHERE chain_pos IS NULL AND tx_id < ${horizon}::xid8
           ORDER BY tx_id, seq
           LIMIT ${this.batchSize}`;
        if (rows.length === 0) return { locked: true, sealed: 0, head: head ? { position, hash: prevHash } : null };

        const seals = rows.map((row) => {
          position += 1;
          const hash = chainHash(prevHash, { ...toAuditEventView(row), position });
          const seal = { seq: String(row.seq), pos: position, prev: prevHash, hash };
          prevHash = hash;
          return seal;
        });
        const updated = await tx.$executeRaw`
          UPDATE audit_events AS e
             SET chain_pos = v.pos, prev_hash = v.prev, hash = v.hash
            FROM jsonb_to_recordset(${JSON.stringify(seals)}::jsonb) AS v(seq bigint, pos bigint, prev text, hash text)
           WHERE e.seq = v.seq AND e.chain_pos IS NULL`;
        if (updated !== seals.length) throw new Error(`sealer expected to seal ${seals.length} events but sealed ${updated}; rolled back`);
        return { locked: true, sealed: seals.length, head: { position, hash: prevHash } };
      },
      { timeout: 60_000 },
    );
  }

  /** Age in seconds of the next event waiting to be sealed (0 when all are sealed). */
  async lagSeconds(): Promise<number> {
    const [oldest] = await this.prisma.$queryRaw<{ lag: number }[]>`
      SELECT GREATEST(EXTRACT(EPOCH FROM clock_timestamp() - occurred_at), 0)::float8 AS lag
        FROM audit_events WHERE chain_pos IS NULL ORDER BY tx_id, seq LIMIT 1`;
    return oldest?.lag ?? 0;
  }
}
