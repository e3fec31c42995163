import { ChainVerifier, GENESIS_HASH, type HeadAnchor } from '@atelier/contracts';
import type { PrismaClient } from '@atelier/persistence';
import { type ChainHead, locateHash, readChainHead, readChainPages, readHashAt } from './audit-chain-reader';
import { toSealedEvent } from './audit-rows';

/**
 * Positions a tenant key may verify per request: a few seconds of hashing (about 20,000-
 * 28,000 positions/s on 2 cores, bench/RESULTS.md). Admin keys verify any range.
 */
export const TENANT_VERIFY_MAX_POSITIONS = 100_000;

export interface VerifyRequest {
  from?: number;
  to?: number;
  head?: HeadAnchor;
  /**
   * Most positions one request may check; without `from` the range is the last this many
   * positions. Tenants are bounded so one key cannot make the server re-hash the whole chain.
   */
  maxPositions?: number;
  /** Aborted when the client goes away: the check stops at the next page. */
  signal?: AbortSignal;
}

export interface VerifyReport {
  ok: boolean;
  checked: number;
  firstBadPosition: number | null;
  reason: string | null;
  /** The positions examined: from..to (to defaults to the current head). */
  from: number;
  to: number;
}

/** The range asked for is longer than the caller may verify in one request. */
export class VerifyRangeTooLargeError extends Error {
  override readonly name = 'VerifyRangeTooLargeError';
  constructor(readonly maxPositions: number) {
    super(`verifies at most ${maxPositions} positions per request: narrow from/to, or use an admin key`);
  }
}

/**
 * Re-computes the stored chain over [from, to]. A range starting after position 1 is joined
 * to the stored hash of the position before it (which must exist); a head anchored earlier
 * must still be in the chain, which is what catches a cut tail: inside the range the
 * verifier meets it, before the range it is compared with the stored hash at its position.
 */
export async function verifyStoredChain(prisma: Pick<PrismaClient, '$queryRaw'>, request: VerifyRequest): Promise<VerifyReport> {
  const current = await readChainHead(prisma);
  const to = Math.min(request.to ?? current.position, current.position);
  const from = request.from ?? (request.maxPositions === undefined ? 1 : Math.max(1, to - request.maxPositions + 1));
  if (request.maxPositions !== undefined && to - from + 1 > request.maxPositions) throw new VerifyRangeTooLargeError(request.maxPositions);
  const verdict = (bad: { position: number; reason: string }): VerifyReport => ({ ok: false, checked: 0, firstBadPosition: bad.position, reason: bad.reason, from, to });

  let head = request.head && (await locateHead(prisma, request.head, current));
  if (head?.position !== undefined && head.position < from) {
    const bad = await compareStoredHash(prisma, head as Required<HeadAnchor>);
    if (bad) return verdict(bad);
    head = undefined;
  }
  let expectedPrevHash = GENESIS_HASH;
  if (from > 1) {
    const before = await readHashAt(prisma, from - 1);
    if (before === undefined && from <= to) return verdict({ position: from - 1, reason: `position ${from - 1}, before the range, is missing: the event was deleted` });
    // An empty range (from past the head) checks no entry: only the anchored head, if any.
    expectedPrevHash = before ?? GENESIS_HASH;
  }

  const verifier = new ChainVerifier({ from, expectedPrevHash, ...(head ? { head } : {}) });
  if (from <= to) {
    pages: for await (const page of readChainPages(prisma, from, to)) {
      request.signal?.throwIfAborted();
      for (const row of page) if (!verifier.add(toSealedEvent(row))) break pages;
    }
    // Positions missing at the end of the range (deleted last events) are a gap too.
    if (!verifier.failed && verifier.nextPosition <= to) verifier.fail(verifier.nextPosition, `position ${verifier.nextPosition} is missing: the event was deleted`);
  }
  const result = verifier.finish();
  return { ok: result.ok, checked: result.checked, firstBadPosition: result.firstBadPosition, reason: result.reason, from, to };
}

/** A bare hash gets its position from the chain (the current head, or the event whose prev_hash it is). */
async function locateHead(prisma: Pick<PrismaClient, '$queryRaw'>, head: HeadAnchor, current: ChainHead): Promise<HeadAnchor> {
  if (head.position !== undefined) return head;
  if (head.hash === current.hash && current.position > 0) return { ...head, position: current.position };
  const position = await locateHash(prisma, head.hash);
  return position === undefined ? head : { ...head, position };
}

async function compareStoredHash(prisma: Pick<PrismaClient, '$queryRaw'>, head: Required<HeadAnchor>): Promise<{ position: number; reason: string } | undefined> {
  const stored = await readHashAt(prisma, head.position);
  if (stored === head.hash) return undefined;
  return {
    position: head.position,
    reason:
      stored === undefined
        ? `position ${head.position} of the anchored head is missing: the event was deleted, or the chain was cut before it`
        : `position ${head.position} differs from the anchored head (hash ${head.hash}): the chain was rewritten up to here`,
  };
}
