import { createHash } from 'node:crypto';
import type { CacheTtl, CountTokensRequest } from './request-validation';
import { MESSAGE_OVERHEAD_TOKENS, countTextTokens } from './token-count';

export interface CacheUsage {
  creationTokens: number;
  readTokens: number;
  /** Creation tokens split by the TTL they were written with, as `usage.cache_creation` reports them. */
  creation5mTokens: number;
  creation1hTokens: number;
}

interface Breakpoint {
  fingerprint: string;
  /** Tokens of the whole prefix up to and including the marked block. */
  tokens: number;
  ttl: CacheTtl;
}

const TTL_MS: Record<CacheTtl, number> = { '5m': 5 * 60_000, '1h': 60 * 60_000 };
/** Past this many entries, expired ones are swept so a long demo does not grow without bound. */
const SWEEP_THRESHOLD = 10_000;

/**
 * Prompt caching as the API bills it: each block marked with `cache_control` closes a
 * prefix (system blocks, then messages in order). The longest prefix seen within its
 * TTL is read from the cache; the rest, up to the last mark, is written to it. Unlike
 * the real API there is no minimum cacheable length, so small test prompts cache too.
 */
export class PromptCache {
  private readonly expiries = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  apply(request: CountTokensRequest): CacheUsage {
    const usage: CacheUsage = { creationTokens: 0, readTokens: 0, creation5mTokens: 0, creation1hTokens: 0 };
    const breakpoints = cacheBreakpoints(request);
    if (breakpoints.length === 0) return usage;

    const now = this.now();
    if (this.expiries.size > SWEEP_THRESHOLD) this.sweep(now);
    let hit = -1;
    breakpoints.forEach((breakpoint, index) => {
      if ((this.expiries.get(breakpoint.fingerprint) ?? 0) <= now) return;
      hit = index;
      usage.readTokens = breakpoint.tokens;
    });

    // A read refreshes the entry's TTL; each segment after the hit is written with the TTL of the mark that closes it.
    let covered = usage.readTokens;
    breakpoints.forEach((breakpoint, index) => {
      this.expiries.set(breakpoint.fingerprint, now + TTL_MS[breakpoint.ttl]);
      if (index <= hit) return;
      const written = breakpoint.tokens - covered;
      covered = breakpoint.tokens;
      usage.creationTokens += written;
      if (breakpoint.ttl === '1h') usage.creation1hTokens += written;
      else usage.creation5mTokens += written;
    });
    return usage;
  }

  clear(): void {
    this.expiries.clear();
  }

  private sweep(now: number): void {
    for (const [fingerprint, expiry] of this.expiries) if (expiry <= now) this.expiries.delete(fingerprint);
  }
}

/** Counted with the same rules as countInputTokens, minus the per-request framing, which is never cached. */
function cacheBreakpoints(request: CountTokensRequest): Breakpoint[] {
  const breakpoints: Breakpoint[] = [];
  const prefix = createHash('sha256').update(request.model);
  let tokens = 0;
  const visit = (role: string, block: { text: string; cacheTtl?: CacheTtl }) => {
    prefix.update(`\u0000${role}\u0000${block.text}`);
    tokens += countTextTokens(block.text);
    if (block.cacheTtl) breakpoints.push({ fingerprint: prefix.copy().digest('hex'), tokens, ttl: block.cacheTtl });
  };
  for (const block of request.system) visit('system', block);
  request.messages.forEach((message, index) => {
    tokens += MESSAGE_OVERHEAD_TOKENS;
    prefix.update(`\u0000message ${index}`);
    for (const block of message.content) visit(message.role, block);
  });
  return breakpoints;
}
