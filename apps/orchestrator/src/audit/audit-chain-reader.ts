import { GENESIS_HASH } from '@atelier/contracts';
import type { PrismaClient } from '@atelier/persistence';
import { AUDIT_COLUMNS, type AuditRow } from './audit-rows';

type Reader = Pick<PrismaClient, '$queryRaw'>;

export interface ChainHead {
  /** 0 while nothing is sealed. */
  position: number;
  hash: string;
}

export async function readChainHead(prisma: Reader): Promise<ChainHead> {
  const [head] = await prisma.$queryRaw<{ chain_pos: bigint; hash: string }[]>`
    SELECT chain_pos, hash FROM audit_chain ORDER BY chain_pos DESC LIMIT 1`;
  return head ? { position: Number(head.chain_pos), hash: head.hash } : { position: 0, hash: GENESIS_HASH };
}

/**
 * The stored hash at one position, if that position exists: its link and its event, as
 * readChainPages requires, so a range joined to a position whose event was removed fails.
 */
export async function readHashAt(prisma: Reader, position: number): Promise<string | undefined> {
  const [row] = await prisma.$queryRaw<{ hash: string }[]>`
    SELECT c.hash FROM audit_chain c JOIN audit_events e USING (seq) WHERE c.chain_pos = ${position}`;
  return row?.hash;
}

/** The position of the event with this hash, found through its successor's prev_hash (unique, indexed). */
export async function locateHash(prisma: Reader, hash: string): Promise<number | undefined> {
  const [row] = await prisma.$queryRaw<{ chain_pos: bigint }[]>`SELECT chain_pos FROM audit_chain WHERE prev_hash = ${hash}`;
  return row && row.chain_pos > 1n ? Number(row.chain_pos) - 1 : undefined;
}

/**
 * Sealed events from position `from` to `to` in chain order, a page at a time, so export
 * and verify hold one page in memory whatever the size of the chain, and never keep a
 * transaction open while a slow client reads: sealed rows never change, so pages read at
 * different moments still form one consistent chain. A position whose link or event is
 * gone is absent from its page: the verifier reports it missing.
 *
 * A page is a window of `pageSize` positions (they are dense, 1..head), not "the next
 * `pageSize` links": with a LIMIT over the join, a planner without fresh statistics for
 * audit_chain (after a bulk load, before autovacuum's analyze) joined and sorted the whole
 * rest of the range for every page, which made a full verify quadratic.
 */
export async function* readChainPages(prisma: Reader, from: number, to: number, pageSize = 1_000): AsyncGenerator<AuditRow[]> {
  for (let first = from; first <= to; first += pageSize) {
    const last = Math.min(first + pageSize - 1, to);
    const rows = await prisma.$queryRaw<AuditRow[]>`
      SELECT ${AUDIT_COLUMNS} FROM audit_chain c JOIN audit_events USING (seq)
       WHERE c.chain_pos >= ${first} AND c.chain_pos <= ${last}
       ORDER BY c.chain_pos`;
    if (rows.length > 0) yield rows;
  }
}
