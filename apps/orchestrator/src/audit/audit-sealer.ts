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
  /** The batch stopped at its row or byte cap: more events may be waiting right now. */
  full: boolean;
  /** Seconds from each sealed event's insert to its seal, in chain order. */
  delays: number[];
  /**
   * An event the chain cannot hash (e.g. a jsonb number beyond IEEE doubles, which canonical
   * JSON cannot write). Everything before it was sealed; it and every later event stay
   * unsealed until it is repaired, because the chain order is final and skipping it would
   * hide it (docs/audit.md, "A poisoned event").
   */
  blocked?: { seq: number; reason: string };
}

export interface AuditSealerLimits {
  /** Most events per transaction (AUDIT_SEAL_BATCH_SIZE). */
  batchSize?: number;
  /**
   * Most stored bytes of `data` per transaction (pg_column_size; at least one event): the
   * rows of a batch are held in memory at once, and captured prompts make some large.
   */
  batchBytes?: number;
}

export const DEFAULT_SEAL_BATCH_BYTES = 8 * 1024 * 1024;

interface BatchRow extends AuditRow {
  data_bytes: number;
  bytes_through: bigint;
  seal_delay: number;
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
 *
 * The transaction is READ COMMITTED, explicitly and checked: the horizon argument needs
 * each statement to take a fresh snapshot (the events are selected with a snapshot newer
 * than the horizon's). Under REPEATABLE READ or SERIALIZABLE (a database or role default
 * can impose one) a transaction ending between the two reads would be below the horizon
 * yet invisible, and its events skipped for good.
 */
export class AuditSealer {
  readonly batchSize: number;
  readonly batchBytes: number;

  constructor(
    private readonly prisma: Pick<PrismaClient, '$transaction' | '$queryRaw'>,
    limits: AuditSealerLimits | number = {},
  ) {
    const { batchSize = 5_000, batchBytes = DEFAULT_SEAL_BATCH_BYTES } = typeof limits === 'number' ? { batchSize: limits } : limits;
    this.batchSize = batchSize;
    this.batchBytes = batchBytes;
  }

  sealBatch(): Promise<SealResult> {
    return this.prisma.$transaction(
      async (tx) => {
        const [lock] = await tx.$queryRaw<{ locked: boolean; isolation: string }[]>`
          SELECT pg_try_advisory_xact_lock(${SEALER_LOCK_KEY}::bigint) AS locked, current_setting('transaction_isolation') AS isolation`;
        if (lock?.isolation !== 'read committed') throw new Error(`the sealer needs READ COMMITTED, its transaction runs ${lock?.isolation}`);
        const idle: SealResult = { locked: false, sealed: 0, head: null, full: false, delays: [] };
        if (!lock.locked) return idle;

        const [head] = await tx.$queryRaw<{ chain_pos: bigint; hash: string }[]>`
          SELECT chain_pos, hash FROM audit_events WHERE chain_pos IS NOT NULL ORDER BY chain_pos DESC LIMIT 1`;
        let position = head ? Number(head.chain_pos) : 0;
        let prevHash = head?.hash ?? GENESIS_HASH;

        const [{ horizon }] = (await tx.$queryRaw<{ horizon: string }[]>(SEALING_HORIZON)) as [{ horizon: string }];
        // The running sum stops the batch at the byte cap; the event that crosses it is the last one taken.
        const rows = await tx.$queryRaw<BatchRow[]>`
          SELECT * FROM (
            SELECT ${AUDIT_COLUMNS},
                   row_number() OVER chain_order AS batch_ord,
                   pg_column_size(data) AS data_bytes,
                   sum(pg_column_size(data)) OVER chain_order AS bytes_through,
                   EXTRACT(EPOCH FROM clock_timestamp() - occurred_at)::float8 AS seal_delay
              FROM audit_events
             WHERE chain_pos IS NULL AND tx_id < ${horizon}::xid8
            WINDOW chain_order AS (ORDER BY tx_id, seq)
             ORDER BY tx_id, seq
             LIMIT ${this.batchSize}
          ) batch
          WHERE bytes_through - data_bytes < ${this.batchBytes}
          ORDER BY batch_ord`;
        const last = rows.at(-1);
        const full = rows.length === this.batchSize || (last !== undefined && Number(last.bytes_through) >= this.batchBytes);

        const seals: { seq: string; pos: number; prev: string; hash: string }[] = [];
        let blocked: SealResult['blocked'];
        for (const row of rows) {
          let hash: string;
          try {
            hash = chainHash(prevHash, { ...toAuditEventView(row), position: position + 1 });
          } catch (error) {
            blocked = { seq: Number(row.seq), reason: (error as Error).message };
            break;
          }
          position += 1;
          seals.push({ seq: String(row.seq), pos: position, prev: prevHash, hash });
          prevHash = hash;
        }
        const sealedHead = position > 0 ? { position, hash: prevHash } : null;
        if (seals.length === 0) return { locked: true, sealed: 0, head: sealedHead, full: false, delays: [], ...(blocked ? { blocked } : {}) };

        const updated = await tx.$executeRaw`
          UPDATE audit_events AS e
             SET chain_pos = v.pos, prev_hash = v.prev, hash = v.hash
            FROM jsonb_to_recordset(${JSON.stringify(seals)}::jsonb) AS v(seq bigint, pos bigint, prev text, hash text)
           WHERE e.seq = v.seq AND e.chain_pos IS NULL`;
        if (updated !== seals.length) throw new Error(`sealer expected to seal ${seals.length} events but sealed ${updated}; rolled back`);
        return {
          locked: true,
          sealed: seals.length,
          head: sealedHead,
          full: full && !blocked,
          delays: rows.slice(0, seals.length).map((row) => row.seal_delay),
          ...(blocked ? { blocked } : {}),
        };
      },
      { timeout: 60_000, isolationLevel: Prisma.TransactionIsolationLevel.ReadCommitted },
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
