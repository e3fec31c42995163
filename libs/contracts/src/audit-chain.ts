import { createHash } from 'node:crypto';
import { z } from 'zod';

// The audit hash chain, as the server seals it and as anyone re-computes it offline from
// an export: ONE implementation, imported by the orchestrator's sealer and verifier and by
// the `atelier` CLI, so the two can never disagree on a byte. docs/audit.md specifies it.
//
//   hash(n) = hex(SHA-256(utf8(prevHash(n) ‖ canonicalJson(event n))))
//   prevHash(1) = GENESIS_HASH, prevHash(n) = hash(n - 1)

/** prev_hash of the first event in the chain. */
export const GENESIS_HASH = '0'.repeat(64);

const HASH = /^[0-9a-f]{64}$/;
/** occurred_at is timestamptz(6): always rendered in UTC with exactly six fractional digits. */
export const OCCURRED_AT_FORMAT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

const position = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const hash = z.string().regex(HASH, 'must be 64 lowercase hex characters');

/** The fields of an event that its hash covers (chain columns excluded, position included). */
export const ChainEventSchema = z
  .object({
    position,
    seq: position,
    occurredAt: z.string().regex(OCCURRED_AT_FORMAT, 'must be UTC with microseconds, e.g. 2026-11-23T10:00:00.000000Z'),
    tenantId: z.string().nullable(),
    actor: z.string(),
    action: z.string(),
    subject: z.string(),
    taskId: z.string().nullable(),
    traceId: z.string().nullable(),
    requestId: z.string().nullable(),
    data: z.record(z.string(), z.unknown()),
  })
  .strict();
export type ChainEvent = z.infer<typeof ChainEventSchema>;

/** A sealed event as exported: its content plus its place in the chain. */
export const SealedEventSchema = ChainEventSchema.extend({ prevHash: hash, hash }).strict();
export type SealedEvent = z.infer<typeof SealedEventSchema>;

/**
 * A chain position whose content the reader may not see (another tenant's event): only
 * the link, so the chain stays continuous and checkable without disclosing the event.
 */
export const WithheldEventSchema = z.object({ position, prevHash: hash, hash, withheld: z.literal(true) }).strict();
export type WithheldEvent = z.infer<typeof WithheldEventSchema>;

export type ChainEntry = SealedEvent | WithheldEvent;

export function isWithheld(entry: ChainEntry): entry is WithheldEvent {
  return 'withheld' in entry;
}

/**
 * RFC 8785 (JCS) canonical JSON: object keys sorted by UTF-16 code units, no whitespace,
 * strings and numbers serialised as ECMAScript does. Postgres jsonb re-orders keys and JS
 * objects keep insertion order, so only a canonical form hashes the same everywhere.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON has no representation for NaN or Infinity');
      return JSON.stringify(value);
    case 'object': {
      // Loops and string appends rather than entries/filter/map/join: the sealer hashes every
      // event, and the intermediate arrays cost about a quarter of the time (bench/RESULTS.md,
      // session 22). The output is the same.
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
        return `${out}]`;
      }
      const object = value as Record<string, unknown>;
      // The default sort compares UTF-16 code units, as JCS asks.
      const keys = Object.keys(object).sort();
      let out = '{';
      for (const key of keys) {
        const item = object[key];
        if (item === undefined) continue;
        out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(item)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonical JSON has no representation for ${typeof value}`);
  }
}

/** The canonical form of exactly the hashed fields, whatever else the object carries. */
export function canonicalEvent(event: ChainEvent): string {
  const { position: pos, seq, occurredAt, tenantId, actor, action, subject, taskId, traceId, requestId, data } = event;
  return canonicalJson({ position: pos, seq, occurredAt, tenantId, actor, action, subject, taskId, traceId, requestId, data });
}

export function chainHash(prevHash: string, event: ChainEvent): string {
  return createHash('sha256').update(prevHash, 'utf8').update(canonicalEvent(event), 'utf8').digest('hex');
}

/** A head taken earlier and kept outside the system: its hash, and its position when known. */
export interface HeadAnchor {
  hash: string;
  position?: number;
}

/** Parses `HASH` or `POSITION:HASH` (what `GET /v1/audit/head` returns, joined by a colon). */
export function parseHeadAnchor(text: string): HeadAnchor | undefined {
  const match = /^(?:(\d{1,15}):)?([0-9a-f]{64})$/.exec(text.trim().toLowerCase());
  if (!match) return undefined;
  const anchor: HeadAnchor = { hash: match[2] as string };
  if (match[1] !== undefined) {
    const pos = Number(match[1]);
    if (pos < 1) return undefined;
    anchor.position = pos;
  }
  return anchor;
}

export interface ChainVerdict {
  ok: boolean;
  /** Chain positions examined (up to and including the first bad one). */
  checked: number;
  firstBadPosition: number | null;
  reason: string | null;
  /** Entries whose hash was re-computed from their content. */
  contentChecked: number;
  /** Entries present only as links (withheld content): linkage checked, content trusted. */
  withheld: number;
  firstPosition: number | null;
  lastPosition: number | null;
  lastHash: string | null;
}

export interface ChainVerifierOptions {
  /**
   * The position the entries must start at (default 1): an export whose beginning was cut
   * off fails at its first missing position instead of passing as a shorter chain.
   */
  from?: number;
  /**
   * prev_hash the first entry must carry: GENESIS_HASH at position 1 (the default), and
   * required when `from` is later (the hash of position from − 1, known from elsewhere: an
   * earlier export, a head anchored then, the stored chain), so no start is taken on trust.
   */
  expectedPrevHash?: string;
  /** A head taken earlier: it must be found in the chain, else the tail was cut or rewritten. */
  head?: HeadAnchor;
}

/**
 * Checks chain entries one at a time, in position order, in constant memory: the server
 * feeds it rows from Postgres, the CLI lines from an export file. It stops judging at the
 * first bad position and names it.
 */
export class ChainVerifier {
  private checked = 0;
  private contentChecked = 0;
  private withheld = 0;
  private firstPosition: number | null = null;
  private lastPosition: number | null = null;
  private lastHash: string | null = null;
  private headSeen = false;
  private bad: { position: number; reason: string } | undefined;
  private readonly from: number;
  private readonly firstPrevHash: string;

  constructor(private readonly options: ChainVerifierOptions = {}) {
    this.from = options.from ?? 1;
    if (this.from > 1 && options.expectedPrevHash === undefined) {
      throw new Error(`a chain checked from position ${this.from} needs the hash of position ${this.from - 1} (expectedPrevHash)`);
    }
    this.firstPrevHash = options.expectedPrevHash ?? GENESIS_HASH;
    const { head } = options;
    if (head?.position !== undefined && head.position < this.from) {
      // Only a check that covers the head's position can tell whether it is still there.
      this.bad = {
        position: head.position,
        reason: `the anchored head at position ${head.position} lies before position ${this.from}, where this check starts: it cannot be checked here (check from position ${head.position} or earlier)`,
      };
    }
  }

  get failed(): boolean {
    return this.bad !== undefined;
  }

  /** Adds the next entry; false once the chain is known to be bad (the caller may stop). */
  add(entry: ChainEntry): boolean {
    if (this.bad) return false;
    const reason = this.check(entry);
    if (reason) {
      this.bad = reason;
      this.checked += 1;
      return false;
    }
    this.checked += 1;
    if (isWithheld(entry)) this.withheld += 1;
    else this.contentChecked += 1;
    this.firstPosition ??= entry.position;
    this.lastPosition = entry.position;
    this.lastHash = entry.hash;
    return true;
  }

  /** Records a defect found outside the entries themselves (e.g. an unparsable line). */
  fail(position: number, reason: string): void {
    this.bad ??= { position, reason };
  }

  /** The position the next entry should have (for reporting unreadable input). */
  get nextPosition(): number {
    return this.lastPosition === null ? this.from : this.lastPosition + 1;
  }

  finish(): ChainVerdict {
    const { head } = this.options;
    if (!this.bad && head && !this.headSeen) {
      const end = this.lastPosition ?? this.from - 1;
      const earlier = head.position === undefined && this.from > 1 ? `, or the head lies before position ${this.from}, where this check starts` : '';
      this.bad =
        head.position === undefined || head.position > end
          ? { position: end + 1, reason: `the chain ends at position ${end}, before the anchored head${head.position ? ` at position ${head.position}` : ''} (hash ${head.hash}): events were cut from its tail, or the chain was rewritten${earlier}` }
          : { position: head.position, reason: `the anchored head ${head.hash} was not reached at position ${head.position}` };
    }
    return {
      ok: !this.bad,
      checked: this.checked,
      firstBadPosition: this.bad?.position ?? null,
      reason: this.bad?.reason ?? null,
      contentChecked: this.contentChecked,
      withheld: this.withheld,
      firstPosition: this.firstPosition,
      lastPosition: this.lastPosition,
      lastHash: this.lastHash,
    };
  }

  private check(entry: ChainEntry): { position: number; reason: string } | undefined {
    const expectedPosition = this.nextPosition;
    if (entry.position !== expectedPosition) {
      return entry.position > expectedPosition
        ? { position: expectedPosition, reason: `position ${expectedPosition} is missing: the event was deleted` }
        : { position: expectedPosition, reason: `position ${entry.position} appears where ${expectedPosition} was expected: events were duplicated or reordered` };
    }
    const expectedPrev = this.lastHash ?? this.firstPrevHash;
    if (entry.prevHash !== expectedPrev) {
      return {
        position: entry.position,
        reason:
          entry.position === 1 && this.lastHash === null
            ? 'position 1 does not start from the genesis hash'
            : `prev_hash does not match the hash of position ${entry.position - 1}: an event before it was removed, inserted or reordered`,
      };
    }
    if (!isWithheld(entry) && chainHash(entry.prevHash, entry) !== entry.hash) {
      return { position: entry.position, reason: 'the hash does not match the event: its content was altered' };
    }
    const { head } = this.options;
    if (head && !this.headSeen) {
      if (entry.hash === head.hash && (head.position === undefined || head.position === entry.position)) this.headSeen = true;
      else if (head.position === entry.position) {
        return { position: entry.position, reason: `position ${entry.position} differs from the anchored head (hash ${head.hash}): the chain was rewritten up to here` };
      }
    }
    return undefined;
  }
}

/** Parses one line of an NDJSON export; a message naming the problem when it is not an entry. */
export function parseExportLine(line: string): { entry: ChainEntry } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { error: 'not valid JSON' };
  }
  const schema = typeof value === 'object' && value !== null && 'withheld' in value ? WithheldEventSchema : SealedEventSchema;
  const parsed = schema.safeParse(value);
  // The entry is the parsed JSON itself, not zod's rebuilt copy: rebuilding an object
  // assigns its keys one by one, and assigning "__proto__" sets the prototype instead of
  // keeping the member, so an intact event holding that key would hash differently.
  if (parsed.success) return { entry: value as ChainEntry };
  const issue = parsed.error.issues[0];
  return { error: `${issue?.path.join('.') || '(line)'} ${issue?.message ?? 'is invalid'}` };
}
