import { ChainVerifier, type HeadAnchor } from '@atelier/contracts';
import type { PrismaClient } from '@atelier/persistence';
import { readChainHead, readChainPages, readHashAt } from './audit-chain-reader';
import { toSealedEvent } from './audit-rows';

export interface VerifyRequest {
  from?: number;
  to?: number;
  head?: HeadAnchor;
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

/**
 * Re-computes the stored chain over [from, to]. A range starting after position 1 takes
 * the stored hash of the position before it as given; a head anchored earlier must still
 * be in the chain, which is what catches a cut tail.
 */
export async function verifyStoredChain(prisma: Pick<PrismaClient, '$queryRaw'>, request: VerifyRequest): Promise<VerifyReport> {
  const from = request.from ?? 1;
  const current = await readChainHead(prisma);
  const to = Math.min(request.to ?? current.position, current.position);
  const expectedPrevHash = from > 1 ? await readHashAt(prisma, from - 1) : undefined;
  const verifier = new ChainVerifier({ from, ...(expectedPrevHash ? { expectedPrevHash } : {}), ...(request.head ? { head: request.head } : {}) });
  if (from <= to) {
    pages: for await (const page of readChainPages(prisma, from, to)) {
      for (const row of page) if (!verifier.add(toSealedEvent(row))) break pages;
    }
    // Positions missing at the end of the range (deleted last events) are a gap too.
    if (!verifier.failed && verifier.nextPosition <= to) verifier.fail(verifier.nextPosition, `position ${verifier.nextPosition} is missing: the event was deleted`);
  }
  const verdict = verifier.finish();
  return { ok: verdict.ok, checked: verdict.checked, firstBadPosition: verdict.firstBadPosition, reason: verdict.reason, from, to };
}
