import { chainHash, GENESIS_HASH } from '@atelier/contracts';
import { Prisma, type PrismaClient } from '@atelier/persistence';
import { AUDIT_EVENT_COLUMNS, type AuditEventRow, toChainEvent } from './audit-rows';

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

/** The chain's last link (no row while nothing is sealed) and its event's tx_id (null if that event is missing). */
const SEALER_HEAD = Prisma.sql`
  SELECT c.chain_pos, c.hash, c.seq, e.tx_id
    FROM (SELECT chain_pos, hash, seq FROM audit_chain ORDER BY chain_pos DESC LIMIT 1) c
    LEFT JOIN audit_events e ON e.seq = c.seq`;

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

interface BatchRow extends AuditEventRow {
  data_bytes: number;
  bytes_through: bigint;
  seal_delay: number;
}

/**
 * Gives committed events their chain position, prev_hash and hash, one batch per
 * transaction, under a transaction-scoped advisory lock (released by commit, rollback or
 * a dead connection: a crashed replica never blocks the others). Seals are rows of
 * audit_chain: an event is never updated after its insert, so sealing adds a narrow row
 * per event instead of rewriting the event (and every index of audit_events).
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
 * The same argument makes the chain's last event a watermark: every event not sealed yet
 * sorts after it in (tx_id, seq) order, so the work list is a range scan of the
 * (tx_id, seq) index from there, with no need to ask which events lack a seal.
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

        const head = requireHeadEvent(await readSealerHead(tx));
        let position = head ? Number(head.chain_pos) : 0;
        let prevHash = head?.hash ?? GENESIS_HASH;

        const [{ horizon }] = (await tx.$queryRaw<{ horizon: string }[]>(SEALING_HORIZON)) as [{ horizon: string }];
        // The running sum stops the batch at the byte cap; the event that crosses it is the last one taken.
        const rows = await tx.$queryRaw<BatchRow[]>`
          SELECT * FROM (
            SELECT ${AUDIT_EVENT_COLUMNS},
                   row_number() OVER chain_order AS batch_ord,
                   pg_column_size(data) AS data_bytes,
                   sum(pg_column_size(data)) OVER chain_order AS bytes_through,
                   EXTRACT(EPOCH FROM clock_timestamp() - occurred_at)::float8 AS seal_delay
              FROM audit_events
             WHERE ${afterHead(head)} AND tx_id < ${horizon}::xid8
            WINDOW chain_order AS (ORDER BY tx_id, seq)
             ORDER BY tx_id, seq
             LIMIT ${this.batchSize}
          ) batch
          WHERE bytes_through - data_bytes < ${this.batchBytes}
          ORDER BY batch_ord`;
        const last = rows.at(-1);
        const full = rows.length === this.batchSize || (last !== undefined && Number(last.bytes_through) >= this.batchBytes);

        const seals = { seq: [] as string[], pos: [] as number[], prev: [] as string[], hash: [] as string[] };
        let blocked: SealResult['blocked'];
        for (const row of rows) {
          let hash: string;
          try {
            hash = chainHash(prevHash, toChainEvent(row, position + 1));
          } catch (error) {
            blocked = { seq: Number(row.seq), reason: (error as Error).message };
            break;
          }
          position += 1;
          seals.seq.push(String(row.seq));
          seals.pos.push(position);
          seals.prev.push(prevHash);
          seals.hash.push(hash);
          prevHash = hash;
        }
        const sealedHead = position > 0 ? { position, hash: prevHash } : null;
        const sealed = seals.seq.length;
        if (sealed === 0) return { locked: true, sealed: 0, head: sealedHead, full: false, delays: [], ...(blocked ? { blocked } : {}) };

        // One statement for the whole batch; a conflict on a unique key (another writer of
        // the chain) fails it, and the transaction with it.
        const inserted = await tx.$executeRaw`
          INSERT INTO audit_chain (chain_pos, seq, prev_hash, hash)
          SELECT * FROM unnest(${seals.pos}::bigint[], ${seals.seq}::bigint[], ${seals.prev}::text[], ${seals.hash}::text[])`;
        if (inserted !== sealed) throw new Error(`sealer expected to seal ${sealed} events but sealed ${inserted}; rolled back`);
        return {
          locked: true,
          sealed,
          head: sealedHead,
          full: full && !blocked,
          delays: rows.slice(0, sealed).map((row) => row.seal_delay),
          ...(blocked ? { blocked } : {}),
        };
      },
      { timeout: 60_000, isolationLevel: Prisma.TransactionIsolationLevel.ReadCommitted },
    );
  }

  /**
   * Whether a seal may have work: an event after the chain's head, or a head whose event is
   * missing (sealBatch stops on that, loudly). One statement and no lock, so an idle sealer
   * looks with this instead of its transaction (AuditSealerLoop): about 7 statements every
   * interval, most of an idle orchestrator's CPU. Events above the horizon count as work;
   * sealBatch then finds nothing to seal yet, as it would have anyway.
   */
  async hasPendingEvents(): Promise<boolean> {
    const [row] = await this.prisma.$queryRaw<{ pending: boolean }[]>`
      WITH head AS (${SEALER_HEAD})
      SELECT CASE
               WHEN NOT EXISTS (SELECT FROM head) THEN EXISTS (SELECT FROM audit_events)
               WHEN (SELECT tx_id FROM head) IS NULL THEN true
               -- Ordered, so a range of the (tx_id, seq) index: unordered, the planner may scan
               -- the table from its start for the few events after the head.
               ELSE EXISTS (SELECT FROM head h CROSS JOIN LATERAL (
                              SELECT FROM audit_events e WHERE (e.tx_id, e.seq) > (h.tx_id, h.seq) ORDER BY e.tx_id, e.seq LIMIT 1) later)
             END AS pending`;
    return row?.pending ?? true;
  }

  /** Age in seconds of the next event waiting to be sealed (0 when all are sealed). */
  async lagSeconds(): Promise<number> {
    const head = await readSealerHead(this.prisma);
    const [oldest] = await this.prisma.$queryRaw<{ lag: number }[]>`
      SELECT GREATEST(EXTRACT(EPOCH FROM clock_timestamp() - occurred_at), 0)::float8 AS lag
        FROM audit_events WHERE ${afterHead(head)} ORDER BY tx_id, seq LIMIT 1`;
    return oldest?.lag ?? 0;
  }
}

interface SealerHead {
  chain_pos: bigint;
  hash: string;
  seq: bigint;
  /** Of the head's event, where the work list starts; null if that event is missing. */
  tx_id: string | null;
}

/** The chain's last position and the (tx_id, seq) of its event. */
async function readSealerHead(prisma: Pick<PrismaClient, '$queryRaw'>): Promise<SealerHead | undefined> {
  const [head] = await prisma.$queryRaw<SealerHead[]>`SELECT chain_pos, hash, seq, tx_id::text AS tx_id FROM (${SEALER_HEAD}) head`;
  return head;
}

/**
 * The head's event must exist: without it there is no telling which events follow, and
 * sealing on from an earlier event would give out taken positions again. Only someone
 * past the triggers (the table owner, a superuser) can have removed it, and verification
 * reports that position as missing; sealing stops, and the lag grows, until it is restored.
 */
function requireHeadEvent(head: SealerHead | undefined): SealerHead | undefined {
  if (head && head.tx_id === null) {
    throw new Error(`the audit chain's head (position ${head.chain_pos}) is event seq ${head.seq}, which is missing from audit_events; sealing stops until it is restored`);
  }
  return head;
}

/**
 * The events after the head in chain order: a row comparison, so a range of the
 * (tx_id, seq) index. Without the head's event (see requireHeadEvent) only the lag reads
 * this, and a later seq is close enough to keep the lag growing.
 */
function afterHead(head: SealerHead | undefined): Prisma.Sql {
  if (!head) return Prisma.sql`TRUE`;
  if (head.tx_id === null) return Prisma.sql`seq > ${head.seq}::bigint`;
  return Prisma.sql`(tx_id, seq) > (${head.tx_id}::xid8, ${head.seq}::bigint)`;
}
