export interface DenialSamplerOptions {
  /** A source's denials are recorded at most once per window; the rest are counted. */
  windowMs?: number;
  /** Recorded denials per second across all sources, so many sources cannot flood either. */
  maxPerSecond?: number;
  /** Sources remembered at once; the least recently recorded are forgotten first. */
  maxSources?: number;
  now?: () => number;
}

export type Admission = { record: true; suppressed: number } | { record: false };

/**
 * Decides which access denials become audit events, so a flood of bad requests cannot
 * become a flood of database writes: per source (a key prefix, a key id, an address) the
 * first denial of every window is recorded, carrying how many of its denials since the
 * previous recorded one were not (`suppressed`); and all sources together are capped per
 * second (a token bucket). In memory, per process: N replicas record at most N times as much.
 */
export class DenialSampler {
  private readonly windowMs: number;
  private readonly maxPerSecond: number;
  private readonly maxSources: number;
  private readonly now: () => number;
  private readonly sources = new Map<string, { recordedAt: number; suppressed: number }>();
  private tokens: number;
  private refilledAt: number;

  constructor(options: DenialSamplerOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.maxPerSecond = options.maxPerSecond ?? 10;
    this.maxSources = options.maxSources ?? 10_000;
    this.now = options.now ?? Date.now;
    this.tokens = this.maxPerSecond;
    this.refilledAt = this.now();
  }

  admit(source: string): Admission {
    const now = this.now();
    const entry = this.sources.get(source);
    if (entry && now - entry.recordedAt < this.windowMs) {
      entry.suppressed += 1;
      return { record: false };
    }
    if (!this.takeToken(now)) {
      // Not recorded now; counted, and the source may be recorded on its next denial.
      if (entry) entry.suppressed += 1;
      else this.remember(source, { recordedAt: Number.NEGATIVE_INFINITY, suppressed: 1 });
      return { record: false };
    }
    this.remember(source, { recordedAt: now, suppressed: 0 });
    return { record: true, suppressed: entry?.suppressed ?? 0 };
  }

  private takeToken(now: number): boolean {
    this.tokens = Math.min(this.maxPerSecond, this.tokens + ((now - this.refilledAt) / 1000) * this.maxPerSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private remember(source: string, entry: { recordedAt: number; suppressed: number }): void {
    this.sources.delete(source);
    this.sources.set(source, entry);
    if (this.sources.size > this.maxSources) this.sources.delete(this.sources.keys().next().value as string);
  }
}
