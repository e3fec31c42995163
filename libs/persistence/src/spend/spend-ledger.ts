import Decimal from 'decimal.js';
import type { Actor } from '../audit-writer';
import type { QueryConfig, QueryResultRow } from 'pg';
import { type Clock, systemClock } from './clock';
import { CallGrouper } from './call-grouper';
import { CACHE_HIT_SQL, RESERVE_GROUP_SQL, RESERVE_SQL, SETTLE_SQL, SWEEP_SQL } from './spend-ledger.sql';

interface SettleRow {
  /** attempt id → the cost it settled at. */
  settled: Record<string, string>;
  alerts: FiredAlert[];
}

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
  /** Thresholds crossed by the statement that settled this (reported with one of its settlements only). */
  alerts: FiredAlert[];
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

export interface SpendLedgerOptions {
  /** Statements of each kind (reserve, settle) a process runs at once; calls beyond wait and go together. */
  maxInFlight?: number;
  /** Calls per grouped statement at most. */
  maxGroup?: number;
}

/**
 * Hard spend caps: reserve the worst case against every applicable budget before a
 * model call, settle the actual cost after it, and sweep holds whose holder died. Each
 * operation is one SQL statement (see spend-ledger.sql.ts for why that is race-free);
 * concurrent calls of a process are grouped into one statement (group commit), so the
 * budget rows every call shares change hands once per group.
 */
export class SpendLedger {
  private readonly reserves: CallGrouper<PreparedReservation, ReserveResult>;
  private readonly settles: CallGrouper<SettlementRow, SettleResult>;

  constructor(
    private readonly pool: SqlPool,
    private readonly clock: Clock = systemClock,
    options: SpendLedgerOptions = {},
  ) {
    const grouping = { maxInFlight: options.maxInFlight ?? 1, maxGroup: options.maxGroup ?? 64 };
    this.reserves = new CallGrouper((group) => this.reserveGroup(group), grouping);
    this.settles = new CallGrouper((group) => this.settleGroup(group), grouping);
  }

  reserve(request: ReserveRequest): Promise<ReserveResult> {
    const now = this.clock.now();
    return this.reserves.submit({ request, amountUsd: toLedgerAmount(request.amountUsd), now, expiresAt: new Date(now.getTime() + request.ttlMs) });
  }

  settle(settlement: Settlement): Promise<SettleResult> {
    const { outcome, usage } = settlement;
    const cost = outcome === 'unknown' ? null : outcome === 'success' ? toLedgerAmount(settlement.costUsd ?? 0) : '0';
    const cache = outcome === 'success' ? settlement.responseCache : undefined;
    return this.settles.submit([
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
    ]);
  }

  /**
   * Settles up to `limit` holds past their TTL at their reserved amount as unknown
   * outcomes: the holder died mid-call and the provider may have billed it. Safe to run
   * in every replica at once (SKIP LOCKED).
   */
  async sweepExpired(limit: number, actor: Actor): Promise<SettleResult & { count: number }> {
    const [row] = await this.run<SettleRow>('atelier_spend_sweep_v3', SWEEP_SQL, [limit, this.clock.now(), actor, JSON.stringify({ sweptAfterTtl: true })]);
    if (!row) throw new Error('sweep statement returned no row');
    const costs = Object.values(row.settled);
    return { settled: costs.length > 0, count: costs.length, costUsd: costs.reduce((sum, cost) => sum.plus(cost), new Decimal(0)).toFixed(), alerts: row.alerts };
  }

  /** A stored answer for this exact request, recorded as a free ledger entry with `llm.cache_hit`; undefined on a miss. */
  async takeCachedResponse(request: {
    key: string;
    attemptId: string;
    target: SpendTarget;
    attempt: number;
    actor: Actor;
    traceId?: string | null;
  }): Promise<CachedResponse | undefined> {
    const { target } = request;
    const [row] = await this.run<{ model: string; response: Record<string, unknown> }>('atelier_spend_cache_hit_v1', CACHE_HIT_SQL, [
      request.key,
      this.clock.now(),
      request.attemptId,
      target.tenantId,
      target.taskId,
      target.stepId,
      request.attempt,
      request.actor,
      request.traceId ?? null,
    ]);
    return row ? { model: row.model, response: row.response } : undefined;
  }

  /**
   * Named prepared statements: each connection parses and plans a statement once, then
   * only binds and executes it. Planning these statements costs more than running them.
   */
  private async run<R extends QueryResultRow>(name: string, text: string, values: unknown[]): Promise<R[]> {
    return (await this.pool.query<R>({ name, text, values })).rows;
  }

  /**
   * One statement decides what is certain (granted together, or denied even alone); the
   * rest, and every call of a group that failed (one bad call), are decided alone, in
   * arrival order. Grouping never refuses a call that would have fitted on its own.
   */
  private async reserveGroup(group: PreparedReservation[]): Promise<ReserveResult[]> {
    const distinct = new Set(group.map((call) => call.request.attemptId)).size === group.length;
    const decided = group.length > 1 && distinct ? await this.reserveTogether(group).catch(() => undefined) : undefined;
    const results: ReserveResult[] = [];
    for (const [index, call] of group.entries()) results.push(decided?.[index] ?? (await this.reserveOne(call)));
    return results;
  }

  private async reserveTogether(group: PreparedReservation[]): Promise<(ReserveResult | undefined)[]> {
    const column = <T>(pick: (call: PreparedReservation) => T) => group.map(pick);
    const [row] = await this.run<{ granted: Record<string, string[]>; denied: Record<string, BudgetSnapshot[]> }>('atelier_spend_reserve_group_v2', RESERVE_GROUP_SQL, [
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
    ]);
    if (!row) throw new Error('reserve statement returned no row');
    return group.map(({ request, amountUsd }): ReserveResult | undefined => {
      const budgetIds = row.granted[request.attemptId];
      if (budgetIds) return { granted: true, amountUsd, budgetIds, replayed: false };
      const blocking = row.denied[request.attemptId];
      return blocking ? { granted: false, amountUsd, blocking } : undefined;
    });
  }

  private async reserveOne({ request, amountUsd, now, expiresAt }: PreparedReservation): Promise<ReserveResult> {
    const { target } = request;
    const [row] = await this.run<{ granted: boolean; inserted: number; budget_ids: string[]; budgets: BudgetSnapshot[] }>('atelier_spend_reserve_v1', RESERVE_SQL, [
      request.attemptId,
      amountUsd,
      now,
      scopeKeysFor(target),
      target.tenantId,
      target.taskId,
      target.stepId,
      expiresAt,
      request.model,
      request.attempt,
      request.actor,
      request.traceId ?? null,
    ]);
    if (!row) throw new Error('reserve statement returned no row');
    if (row.granted && row.inserted === 1) return { granted: true, amountUsd, budgetIds: row.budget_ids, replayed: false };
    const existing = await this.heldAmount(request.attemptId);
    if (existing) return { granted: true, amountUsd: existing.amountUsd, budgetIds: existing.budgetIds, replayed: true };
    return { granted: false, amountUsd, blocking: row.budgets.filter((budget) => !budget.fits) };
  }

  /** One statement for the group; if it fails, each settlement alone, so only a bad one fails. */
  private async settleGroup(group: SettlementRow[]): Promise<SettleResult[]> {
    if (group.length > 1) {
      const together = await this.settleTogether(group).catch(() => undefined);
      if (together) return together;
      const results: SettleResult[] = [];
      for (const settlement of group) results.push((await this.settleTogether([settlement]))[0] as SettleResult);
      return results;
    }
    return this.settleTogether(group);
  }

  private async settleTogether(group: SettlementRow[]): Promise<SettleResult[]> {
    const columns = Array.from({ length: 16 }, (_, index) => group.map((row) => row[index]));
    const [row] = await this.run<SettleRow>('atelier_spend_settle_v3', SETTLE_SQL, [...columns, this.clock.now()]);
    if (!row) throw new Error('settle statement returned no row');
    // Alerts belong to the group's statement: reported once, with its first settlement.
    return group.map(([attemptId], index) => {
      const cost = row.settled[attemptId];
      return { settled: cost !== undefined, costUsd: cost ?? '0', alerts: index === 0 ? row.alerts : [] };
    });
  }

  private async heldAmount(attemptId: string): Promise<{ amountUsd: string; budgetIds: string[] } | undefined> {
    const [row] = await this.run<{ amount: string; budget_ids: string[] }>(
      'atelier_spend_held_v1',
      `SELECT trim_scale(amount_usd)::text AS amount, budget_ids::text[] AS budget_ids FROM spend_reservations WHERE attempt_id = $1`,
      [attemptId],
    );
    return row ? { amountUsd: row.amount, budgetIds: row.budget_ids } : undefined;
  }
}
