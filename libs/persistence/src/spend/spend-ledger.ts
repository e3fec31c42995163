import Decimal from 'decimal.js';
import type { Actor } from '../audit-writer';
import type { QueryConfig, QueryResultRow } from 'pg';
import { type Clock, systemClock } from './clock';
import { CallGrouper, DEFAULT_GROUPING, eachKeyOncePerStatement, groupOrEachAlone } from '../call-grouper';
import { ALERTS_SQL, CACHE_HIT_SQL, FOLD_SQL, RESERVE_CLAIMING_SQL, RESERVE_FAST_DECLINED, RESERVE_FAST_SQL, RESERVE_SQL, SETTLE_SQL, SETTLEMENT_ARRAY_COUNT, SWEEP_SQL } from './spend-ledger.sql';

export { carriedSettlementSql } from './spend-ledger.sql';

/** A pg pool (PrismaService.pool) or client: the ledger's statements run as named prepared statements on it. */
export interface SqlPool {
  query<R extends QueryResultRow>(config: QueryConfig): Promise<{ rows: R[] }>;
}

/** Who a model call's money belongs to. */
export interface SpendTarget {
  tenantId: string;
  taskId: string;
  stepId: string;
}

export interface ReserveRequest {
  /** `<stepId>:<delivery attempt>:<call index>:<try>`: the ledger's idempotency key. */
  attemptId: string;
  target: SpendTarget;
  amountUsd: Decimal.Value;
  /** After this, the sweeper presumes the holder dead and settles the hold as an unknown outcome. */
  ttlMs: number;
  model: string;
  /** The step's delivery attempt. */
  attempt: number;
  actor: Actor;
  traceId?: string | null;
}

/** Which budget, and its money at one moment (decimal strings). */
interface BudgetFigures {
  scope: 'global' | 'tenant' | 'task';
  scopeKey: string;
  period: 'total' | 'day' | 'month';
  limitUsd: string;
  spentUsd: string;
}

export interface BudgetSnapshot extends BudgetFigures {
  id: string;
  reservedUsd: string;
  /** Whether this reservation fitted under this budget. */
  fits: boolean;
}

export type ReserveResult =
  | { granted: true; amountUsd: string; budgetIds: string[]; replayed: boolean }
  | { granted: false; amountUsd: string; blocking: BudgetSnapshot[] };

/**
 * The claim of a step that never ran, made by the reservation of its first model call
 * (reserveClaiming): as the agent's own claim, under a lease of `leaseMs` held by `owner`.
 */
export interface StepClaimTerms {
  owner: string;
  leaseMs: number;
  /** The agent the step must belong to. */
  agent: string;
  /** The step's input as JSON text, as the handler had it: the step is claimed only if its row holds the same. */
  input: string;
}

/** The step a claiming reservation claimed, as its row has it. */
export interface ClaimedByReservation {
  key: string;
  kind: string;
  dispatchSeq: number;
  deadlineAt: Date | null;
}

/**
 * What a claiming reservation came to: the step not claimed (nothing was written, nor
 * reserved), or claimed, with what its call's reservation came to. A claimed step's first
 * try is new to the ledger, so the statement decides it; were it somehow not decided
 * (`reservation` absent), the call is to be reserved apart.
 */
export type ClaimingReservation = { claimed: false } | { claimed: ClaimedByReservation; reservation?: ReserveResult | AnsweredFromCache };

/** A reservation that looked in the response cache first and found the answer there: nothing is held. */
export interface AnsweredFromCache {
  cached: CachedResponse;
}

/** A reservation asked again under an attempt id whose hold is already settled: nothing is held for it, so it is not granted. */
export class AttemptAlreadySettledError extends Error {
  override readonly name = 'AttemptAlreadySettledError';
  constructor(
    readonly attemptId: string,
    readonly state: string,
  ) {
    super(`attempt ${attemptId} was already settled (${state}): nothing is held for it; a new try needs a new attempt id`);
  }
}

export type CallOutcome = 'success' | 'error' | 'unknown';

export interface Settlement {
  attemptId: string;
  /**
   * `success`: billed at costUsd; `error`: the provider answered with an error, billed 0
   * and released; `unknown`: no answer ever came, billed at the reserved amount (the
   * provider may have billed it); `not_sent`: the call never left, released, no ledger row.
   */
  outcome: CallOutcome | 'not_sent';
  costUsd?: Decimal.Value;
  usage?: { inputTokens: number; outputTokens: number; cacheCreationInputTokens: number; cacheCreation1hInputTokens: number; cacheReadInputTokens: number };
  latencyMs?: number;
  requestId?: string | null;
  errorType?: string | null;
  /** A successful answer to keep for identical requests (ignored when the task opted out). */
  responseCache?: { key: string; ttlSeconds: number; response: Record<string, unknown> };
  /** Merged into the `llm.call` audit event's data: what the call said and heard, as AUDIT_CAPTURE allows. */
  auditData?: Record<string, unknown>;
}

export interface FiredAlert extends BudgetFigures {
  id: string;
  budgetId: string;
  threshold: number;
}

export interface SettleResult {
  /** False when the reservation was already settled (by the sweeper, or a replay). */
  settled: boolean;
  costUsd: string;
  /**
   * Set when the cost exceeded the reservation: by how much (also `overrunUsd` in the
   * `llm.call` audit event). Spent records the exact cost, so the budgets this call held
   * may end above their cap by this much.
   */
  overrunUsd?: string;
}

/** A response-cache lookup for one call: `key` is the request's cache key, `attemptId` the ledger entry a hit is recorded under. */
export interface CacheLookup {
  key: string;
  attemptId: string;
  target: SpendTarget;
  attempt: number;
  actor: Actor;
  traceId?: string | null;
}

export interface CachedResponse {
  model: string;
  response: Record<string, unknown>;
}

/** The budgets' scope keys that apply to one call: global, its tenant's, its task's. */
export function scopeKeysFor(target: Pick<SpendTarget, 'tenantId' | 'taskId'>): string[] {
  return ['global', `tenant:${target.tenantId}`, `task:${target.taskId}`];
}

/** numeric(24,12) keeps 12 decimals: round up so what is held or charged is never less than priced. */
export function toLedgerAmount(value: Decimal.Value): string {
  const amount = new Decimal(value);
  if (!amount.isFinite() || amount.isNegative()) throw new RangeError(`not a ledger amount: ${String(value)}`);
  return amount.toDecimalPlaces(12, Decimal.ROUND_UP).toFixed();
}

const SETTLED_STATE = { success: 'settled', error: 'released', unknown: 'unknown_outcome', not_sent: 'released' } as const;

/** A reservation request with its amount rounded and its times fixed. */
interface PreparedReservation {
  request: ReserveRequest;
  amountUsd: string;
  now: Date;
  expiresAt: Date;
  /** Look in the response cache under this key first (reserveUnlessCached). */
  cacheKey: string | null;
}

/** One settlement as the settle statement's arrays take it (SETTLEMENT_COLUMNS order). */
type SettlementRow = [
  attemptId: string,
  cost: string | null,
  state: string,
  outcome: string | null,
  inputTokens: number,
  outputTokens: number,
  cacheCreation: number,
  cacheCreation1h: number,
  cacheRead: number,
  latencyMs: number | null,
  requestId: string | null,
  errorType: string | null,
  cacheKey: string | null,
  cacheExpiresAt: Date | null,
  cacheResponse: string | null,
  auditData: string | null,
];

/** A claiming reservation as its statement's arrays take it. */
interface PreparedClaimingReservation {
  reservation: PreparedReservation;
  claim: StepClaimTerms;
}

interface ReserveRow {
  granted: Record<string, string[]>;
  /** The exact statement's refusals (the fast one refuses nothing: it declines the group). */
  denied?: Record<string, BudgetSnapshot[]>;
  earlier: Record<string, { state: string; amountUsd: string; budgetIds: string[] }>;
  hits: Record<string, CachedResponse>;
}

/** The `settled` and `overruns` columns of a statement that settled attempts. */
export interface SettleRow {
  /** attempt id → the cost it settled at. */
  settled: Record<string, string>;
  /** attempt id → cost − reserved, for those above their reservation. */
  overruns: Record<string, string>;
}

export interface SpendLedgerOptions {
  /** Statements of each kind (reserve, settle, cache lookup) a process runs at once; calls beyond wait and go together. */
  maxInFlight?: number;
  /** Calls per grouped statement at most (1: every call is its own statement and transaction). */
  maxGroup?: number;
}

/**
 * After the fast reservation statement declines a group (some budget near its cap), groups
 * go straight to the exact statement for this long: a declined fast statement wrote its
 * reservation rows for nothing, and near a cap most would.
 */
const EXACT_ONLY_AFTER_DECLINE_MS = 1_000;

const fulfilled = <T>(value: T): PromiseSettledResult<T> => ({ status: 'fulfilled', value });
const rejected = (reason: unknown): PromiseRejectedResult => ({ status: 'rejected', reason });

/**
 * Hard spend caps: reserve the worst case against every applicable budget before a
 * model call, settle the actual cost after it, and sweep holds whose holder died. Each
 * operation is one SQL statement (see spend-ledger.sql.ts for why that is race-free);
 * concurrent calls of a process are grouped into one statement (group commit), so the
 * budget rows every call shares change hands once per group. A call of a group that
 * fails is retried alone, so one bad call never fails the others.
 */
export class SpendLedger {
  private readonly reserves: CallGrouper<PreparedReservation, ReserveResult | AnsweredFromCache>;
  private readonly settles: CallGrouper<SettlementRow, SettleResult>;
  private readonly cacheLookups: CallGrouper<CacheLookup, CachedResponse | undefined>;
  private readonly claimingReserves: CallGrouper<PreparedClaimingReservation, ClaimingReservation>;
  /** performance.now() of the fast statement's last decline. */
  private fastDeclinedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly pool: SqlPool,
    private readonly clock: Clock = systemClock,
    options: SpendLedgerOptions = {},
  ) {
    const grouping = { maxInFlight: options.maxInFlight ?? DEFAULT_GROUPING.maxInFlight, maxGroup: options.maxGroup ?? DEFAULT_GROUPING.maxGroup };
    this.reserves = new CallGrouper((group) => this.reserveGroup(group), grouping);
    this.settles = new CallGrouper((group) => groupOrEachAlone(group, (settlements) => this.settleStatement(settlements)), grouping);
    this.cacheLookups = new CallGrouper((group) => groupOrEachAlone(group, (lookups) => this.cacheLookupStatement(lookups)), grouping);
    // One statement claims each step once (its calls share the attempt id of the step's first try).
    this.claimingReserves = new CallGrouper(
      (group) => eachKeyOncePerStatement(group, ({ reservation }) => reservation.request.target.stepId.toLowerCase(), (calls) => this.claimingStatement(calls)),
      grouping,
    );
  }

  /**
   * Holds the amount against every budget of the target, or refuses naming the budgets
   * that cannot take it. A repeat of a granted attempt id answers `replayed` with what is
   * held; a repeat of one already settled fails with AttemptAlreadySettledError.
   */
  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    const result = await this.submitReservation(request, null);
    if ('cached' in result) throw new Error('a reservation that did not look in the response cache was answered from it');
    return result;
  }

  /**
   * `reserve`, unless the response cache holds the answer under `cacheKey` (and the task
   * allows the cache): then nothing is held, and the call is recorded under its attempt id
   * as takeCachedResponse records it. One statement, where a lookup and then a reservation
   * take two.
   */
  async reserveUnlessCached(request: ReserveRequest, cacheKey: string): Promise<ReserveResult | AnsweredFromCache> {
    return this.submitReservation(request, cacheKey);
  }

  /**
   * `reserve` (or `reserveUnlessCached`, given a `cacheKey`) for the first model call of a
   * step that never ran, claiming the step in the same statement (see RESERVE_CLAIMING_SQL):
   * the call is reserved only if the step is claimed. Where the fast statement would decline
   * (a budget near its cap), nothing is claimed either: the caller claims and reserves apart.
   */
  async reserveClaiming(request: ReserveRequest, cacheKey: string | null, claim: StepClaimTerms): Promise<ClaimingReservation> {
    if (performance.now() - this.fastDeclinedAt < EXACT_ONLY_AFTER_DECLINE_MS) return { claimed: false };
    return this.claimingReserves.submit({ reservation: this.prepareReservation(request, cacheKey), claim });
  }

  private submitReservation(request: ReserveRequest, cacheKey: string | null): Promise<ReserveResult | AnsweredFromCache> {
    return this.reserves.submit(this.prepareReservation(request, cacheKey));
  }

  private prepareReservation(request: ReserveRequest, cacheKey: string | null): PreparedReservation {
    const now = this.clock.now();
    return { request, amountUsd: toLedgerAmount(request.amountUsd), now, expiresAt: new Date(now.getTime() + request.ttlMs), cacheKey };
  }

  async settle(settlement: Settlement): Promise<SettleResult> {
    return this.settles.submit(this.settlementRow(settlement));
  }

  /**
   * Settlements for another statement to carry in its own transaction (see
   * carriedSettlementSql): its parameters from the `first` it was built with, the arrays
   * then this ledger's clock. Settled exactly as `settle` would; read the outcome with
   * carriedSettlementResults.
   */
  carriedSettlementParams(settlements: readonly Settlement[]): unknown[] {
    return [...settlementColumns(settlements.map((settlement) => this.settlementRow(settlement))), this.clock.now()];
  }

  /** What each of `settlements` came to, from the `settled` and `overruns` columns of the statement that carried them. */
  carriedSettlementResults(row: SettleRow, settlements: readonly Pick<Settlement, 'attemptId'>[]): SettleResult[] {
    return settlements.map(({ attemptId }) => settleResultOf(row, attemptId));
  }

  private settlementRow(settlement: Settlement): SettlementRow {
    const { outcome, usage } = settlement;
    const cost = outcome === 'unknown' ? null : outcome === 'success' ? toLedgerAmount(settlement.costUsd ?? 0) : '0';
    const cache = outcome === 'success' ? settlement.responseCache : undefined;
    return [
      settlement.attemptId,
      cost,
      SETTLED_STATE[outcome],
      outcome === 'not_sent' ? null : outcome,
      usage?.inputTokens ?? 0,
      usage?.outputTokens ?? 0,
      usage?.cacheCreationInputTokens ?? 0,
      usage?.cacheCreation1hInputTokens ?? 0,
      usage?.cacheReadInputTokens ?? 0,
      settlement.latencyMs ?? null,
      settlement.requestId ?? null,
      settlement.errorType ?? null,
      cache?.key ?? null,
      cache ? new Date(this.clock.now().getTime() + cache.ttlSeconds * 1000) : null,
      cache ? JSON.stringify(cache.response) : null,
      settlement.auditData ? JSON.stringify(settlement.auditData) : null,
    ];
  }

  /**
   * Settles up to `limit` holds past their TTL at their reserved amount as unknown
   * outcomes: the holder died mid-call and the provider may have billed it. Safe to run
   * in every replica at once (SKIP LOCKED).
   */
  async sweepExpired(limit: number, actor: Actor): Promise<{ count: number; costUsd: string }> {
    const [row] = await this.run<SettleRow>('atelier_spend_sweep_v4', SWEEP_SQL, [limit, this.clock.now(), actor, JSON.stringify({ sweptAfterTtl: true })]);
    if (!row) throw new Error('sweep statement returned no row');
    const costs = Object.values(row.settled);
    return { count: costs.length, costUsd: costs.reduce((sum, cost) => sum.plus(cost), new Decimal(0)).toFixed() };
  }

  /**
   * Folds settlements into the rows of every budget that has some, `limit` budgets per
   * statement; returns how many budgets it folded. Only housekeeping: budget_balances is
   * exact either way.
   */
  async foldSettlements(limit = 500): Promise<number> {
    let folded = 0;
    for (;;) {
      const [row] = await this.run<{ folded: number; due: number }>('atelier_spend_fold_v1', FOLD_SQL, [limit, this.clock.now()]);
      if (!row) throw new Error('fold statement returned no row');
      folded += row.folded;
      if (row.due < limit || row.folded === 0) return folded;
    }
  }

  /**
   * Raises the alerts of budgets changed since `since` whose spend in the current window
   * has reached a threshold (once per budget, window and threshold; outbox row and
   * `budget.alert` audit event by `actor`). Returns the alerts raised now.
   */
  async raiseAlerts(since: Date, actor: Actor): Promise<FiredAlert[]> {
    const [row] = await this.run<{ alerts: FiredAlert[] }>('atelier_spend_alerts_v1', ALERTS_SQL, [this.clock.now(), since, actor]);
    if (!row) throw new Error('alerts statement returned no row');
    return row.alerts;
  }

  /** A stored answer for this exact request, recorded as a free ledger entry with `llm.cache_hit`; undefined on a miss. */
  async takeCachedResponse(request: CacheLookup): Promise<CachedResponse | undefined> {
    return this.cacheLookups.submit(request);
  }

  /**
   * Named prepared statements: each connection parses and plans a statement once, then
   * only binds and executes it. Planning these statements costs more than running them.
   */
  private async run<R extends QueryResultRow>(name: string, text: string, values: unknown[]): Promise<R[]> {
    return (await this.pool.query<R>({ name, text, values })).rows;
  }

  /**
   * Decides a group in as few statements as it takes: each grants what fits with every
   * earlier call counted and refuses what cannot fit even alone; the rest go again, in
   * arrival order (the first of them always fits or is refused alone, so this ends).
   * Grouping never refuses a call that would have fitted on its own. If a statement
   * fails, its calls are decided one by one, so only a call that fails alone fails.
   */
  private async reserveGroup(group: PreparedReservation[]): Promise<PromiseSettledResult<ReserveResult | AnsweredFromCache>[]> {
    const outcomes: PromiseSettledResult<ReserveResult | AnsweredFromCache>[] = new Array(group.length);
    let pending = group.map((call, index) => ({ call, index }));
    while (pending.length > 0) {
      // One statement takes each attempt id once: a repeat goes in the next, where it reads as a replay.
      const ids = new Set<string>();
      const batch = pending.filter(({ call }) => !ids.has(call.request.attemptId) && ids.add(call.request.attemptId));
      const rest = pending.filter((item) => !batch.includes(item));
      let decided: (PromiseSettledResult<ReserveResult | AnsweredFromCache> | undefined)[];
      try {
        decided = await this.reserveStatement(batch.map(({ call }) => call));
      } catch (error) {
        if (batch.length === 1) decided = [rejected(error)];
        else {
          decided = [];
          for (const { call } of batch) decided.push(await this.reserveAlone(call));
        }
      }
      const undecided = batch.filter((item, i) => {
        const outcome = decided[i];
        if (outcome) outcomes[item.index] = outcome;
        return !outcome;
      });
      pending = [...undecided, ...rest].sort((a, b) => a.index - b.index);
    }
    return outcomes;
  }

  private async reserveAlone(call: PreparedReservation): Promise<PromiseSettledResult<ReserveResult | AnsweredFromCache>> {
    for (;;) {
      try {
        const [outcome] = await this.reserveStatement([call]);
        if (outcome) return outcome;
      } catch (error) {
        return rejected(error);
      }
    }
  }

  /**
   * One decision on the group: the fast statement grants it whole, or declines having
   * changed nothing and the exact one decides it. An entry is undefined for a call left
   * undecided.
   */
  private async reserveStatement(group: PreparedReservation[]): Promise<(PromiseSettledResult<ReserveResult | AnsweredFromCache> | undefined)[]> {
    const values = reservationValues(group);
    const tryFast = performance.now() - this.fastDeclinedAt >= EXACT_ONLY_AFTER_DECLINE_MS;
    const fast = tryFast ? await this.declinable(this.run<ReserveRow>('atelier_spend_reserve_fast_v4', RESERVE_FAST_SQL, values)) : undefined;
    const [row] = fast ?? (await this.run<ReserveRow>('atelier_spend_reserve_v7', RESERVE_SQL, values));
    if (!row) throw new Error('reserve statement returned no row');
    return group.map((call) => reservationOutcome(row, call));
  }

  /** One claiming statement on a group (each step once); a declined group claims nothing. */
  private async claimingStatement(group: PreparedClaimingReservation[]): Promise<ClaimingReservation[]> {
    const column = <T>(pick: (call: PreparedClaimingReservation) => T) => group.map(pick);
    const values = [
      ...reservationValues(group.map((call) => call.reservation)),
      column((c) => c.claim.owner),
      column((c) => c.claim.input),
      column((c) => c.claim.agent),
      column((c) => c.claim.leaseMs),
    ];
    const [row] = (await this.declinable(this.run<ReserveRow & { claimed: Record<string, ClaimedByReservation & { deadlineAt: string | null }> }>('atelier_spend_reserve_claiming_v1', RESERVE_CLAIMING_SQL, values))) ?? [];
    if (!row) return group.map(() => ({ claimed: false }));
    return group.map(({ reservation }) => {
      const step = row.claimed[reservation.request.target.stepId.toLowerCase()];
      if (!step) return { claimed: false };
      const outcome = reservationOutcome(row, reservation);
      const claimed = { ...step, deadlineAt: step.deadlineAt === null ? null : new Date(step.deadlineAt) };
      return outcome?.status === 'fulfilled' ? { claimed, reservation: outcome.value } : { claimed };
    });
  }

  /** The fast statement's rows, or undefined when it declined (and then the exact one decides for a while). */
  private async declinable<R>(statement: Promise<R[]>): Promise<R[] | undefined> {
    return statement.catch((error: { code?: string }) => {
      if (error.code !== RESERVE_FAST_DECLINED) throw error;
      this.fastDeclinedAt = performance.now();
      return undefined;
    });
  }

  private async cacheLookupStatement(group: CacheLookup[]): Promise<(CachedResponse | undefined)[]> {
    const column = <T>(pick: (lookup: CacheLookup) => T) => group.map(pick);
    const rows = await this.run<{ attempt_id: string; model: string; response: Record<string, unknown> }>('atelier_spend_cache_hit_v4', CACHE_HIT_SQL, [
      column((l) => l.key),
      column((l) => l.attemptId),
      column((l) => l.target.tenantId),
      column((l) => l.target.taskId),
      column((l) => l.target.stepId),
      column((l) => l.attempt),
      column((l) => l.actor),
      column((l) => l.traceId ?? null),
      this.clock.now(),
    ]);
    const hits = new Map(rows.map((row) => [row.attempt_id, { model: row.model, response: row.response }]));
    return group.map((lookup) => hits.get(lookup.attemptId));
  }

  private async settleStatement(group: SettlementRow[]): Promise<SettleResult[]> {
    const [row] = await this.run<SettleRow>('atelier_spend_settle_v6', SETTLE_SQL, [...settlementColumns(group), this.clock.now()]);
    if (!row) throw new Error('settle statement returned no row');
    return group.map(([attemptId]) => settleResultOf(row, attemptId));
  }
}

/** A reservation statement's parameters $1 to $12 for `group` (see RESERVE_SQL). */
function reservationValues(group: readonly PreparedReservation[]): unknown[] {
  const column = <T>(pick: (call: PreparedReservation) => T) => group.map(pick);
  return [
    column((c) => c.request.attemptId),
    column((c) => c.amountUsd),
    column((c) => c.request.target.tenantId),
    column((c) => c.request.target.taskId),
    column((c) => c.request.target.stepId),
    column((c) => c.expiresAt),
    column((c) => c.request.model),
    column((c) => c.request.attempt),
    column((c) => c.request.actor),
    column((c) => c.request.traceId ?? null),
    group[0]?.now,
    column((c) => c.cacheKey),
  ];
}

/** What a reservation statement's row decided for `call`; undefined when it left the call undecided. */
function reservationOutcome(row: ReserveRow, { request, amountUsd }: PreparedReservation): PromiseSettledResult<ReserveResult | AnsweredFromCache> | undefined {
  const cached = row.hits[request.attemptId];
  if (cached) return fulfilled<AnsweredFromCache>({ cached });
  const budgetIds = row.granted[request.attemptId];
  if (budgetIds) return fulfilled<ReserveResult>({ granted: true, amountUsd, budgetIds, replayed: false });
  const blocking = row.denied?.[request.attemptId];
  if (blocking) return fulfilled<ReserveResult>({ granted: false, amountUsd, blocking });
  const earlier = row.earlier[request.attemptId];
  if (!earlier) return undefined;
  // Only a hold still in place is a grant: a settled one holds nothing.
  if (earlier.state !== 'reserved') return rejected(new AttemptAlreadySettledError(request.attemptId, earlier.state));
  return fulfilled<ReserveResult>({ granted: true, amountUsd: earlier.amountUsd, budgetIds: earlier.budgetIds, replayed: true });
}

/** Settlement rows as the statement's arrays, one per column of SETTLEMENT_COLUMNS. */
function settlementColumns(rows: readonly SettlementRow[]): unknown[][] {
  return Array.from({ length: SETTLEMENT_ARRAY_COUNT }, (_, index) => rows.map((row) => row[index]));
}

function settleResultOf(row: SettleRow, attemptId: string): SettleResult {
  const cost = row.settled[attemptId];
  const overrun = row.overruns[attemptId];
  return { settled: cost !== undefined, costUsd: cost ?? '0', ...(overrun ? { overrunUsd: overrun } : {}) };
}
