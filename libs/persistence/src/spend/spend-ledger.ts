import Decimal from 'decimal.js';
import type { Actor } from '../audit-writer';
import type { PrismaClient } from '../generated/prisma/client';
import { type Clock, systemClock } from './clock';
import { CACHE_HIT_SQL, RESERVE_SQL, SETTLE_SQL, SWEEP_SQL } from './spend-ledger.sql';

/** Anything that runs raw SQL: the Prisma client (or a transaction of it). */
export type SqlRunner = Pick<PrismaClient, '$queryRawUnsafe'>;

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

export interface BudgetSnapshot {
  id: string;
  scope: 'global' | 'tenant' | 'task';
  scopeKey: string;
  period: 'total' | 'day' | 'month';
  limitUsd: string;
  spentUsd: string;
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
}

export interface FiredAlert {
  id: string;
  budgetId: string;
  scope: 'global' | 'tenant' | 'task';
  scopeKey: string;
  period: 'total' | 'day' | 'month';
  threshold: number;
  limitUsd: string;
  spentUsd: string;
}

export interface SettleResult {
  /** False when the reservation was already settled (by the sweeper, or a replay). */
  settled: boolean;
  costUsd: string;
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

/**
 * Hard spend caps: reserve the worst case against every applicable budget before a
 * model call, settle the actual cost after it, and sweep holds whose holder died. Each
 * operation is one SQL statement (see spend-ledger.sql.ts for why that is race-free).
 */
export class SpendLedger {
  constructor(
    private readonly sql: SqlRunner,
    private readonly clock: Clock = systemClock,
  ) {}

  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    const amountUsd = toLedgerAmount(request.amountUsd);
    const now = this.clock.now();
    const { target } = request;
    const [row] = await this.sql.$queryRawUnsafe<{ granted: boolean; inserted: number; budget_ids: string[]; budgets: BudgetSnapshot[] }[]>(
      RESERVE_SQL,
      request.attemptId,
      amountUsd,
      now,
      scopeKeysFor(target),
      target.tenantId,
      target.taskId,
      target.stepId,
      new Date(now.getTime() + request.ttlMs),
      request.model,
      request.attempt,
      request.actor,
      request.traceId ?? null,
    );
    if (!row) throw new Error('reserve statement returned no row');
    if (row.granted && row.inserted === 1) return { granted: true, amountUsd, budgetIds: row.budget_ids, replayed: false };
    const existing = await this.heldAmount(request.attemptId);
    if (existing) return { granted: true, amountUsd: existing.amountUsd, budgetIds: existing.budgetIds, replayed: true };
    return { granted: false, amountUsd, blocking: row.budgets.filter((budget) => !budget.fits) };
  }

  async settle(settlement: Settlement): Promise<SettleResult> {
    const { outcome, usage } = settlement;
    const cost = outcome === 'unknown' ? null : outcome === 'success' ? toLedgerAmount(settlement.costUsd ?? 0) : '0';
    const now = this.clock.now();
    const cache = outcome === 'success' ? settlement.responseCache : undefined;
    return this.runSettle(
      SETTLE_SQL,
      settlement.attemptId,
      now,
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
      cache ? new Date(now.getTime() + cache.ttlSeconds * 1000) : null,
      cache ? JSON.stringify(cache.response) : null,
      null,
      null,
    );
  }

  /**
   * Settles up to `limit` holds past their TTL at their reserved amount as unknown
   * outcomes: the holder died mid-call and the provider may have billed it. Safe to run
   * in every replica at once (SKIP LOCKED).
   */
  async sweepExpired(limit: number, actor: Actor): Promise<SettleResult & { count: number }> {
    return this.runSettle(
      SWEEP_SQL,
      limit,
      this.clock.now(),
      null,
      'unknown_outcome',
      'unknown',
      0,
      0,
      0,
      0,
      0,
      null,
      null,
      'holder_lost',
      null,
      null,
      null,
      actor,
      JSON.stringify({ sweptAfterTtl: true }),
    );
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
    const [row] = await this.sql.$queryRawUnsafe<{ model: string; response: Record<string, unknown> }[]>(
      CACHE_HIT_SQL,
      request.key,
      this.clock.now(),
      request.attemptId,
      target.tenantId,
      target.taskId,
      target.stepId,
      request.attempt,
      request.actor,
      request.traceId ?? null,
    );
    return row ? { model: row.model, response: row.response } : undefined;
  }

  private async runSettle(sql: string, ...values: unknown[]): Promise<SettleResult & { count: number }> {
    const [row] = await this.sql.$queryRawUnsafe<{ settled: number; cost_usd: string; alerts: FiredAlert[] }[]>(sql, ...values);
    if (!row) throw new Error('settle statement returned no row');
    return { settled: row.settled > 0, count: row.settled, costUsd: row.cost_usd, alerts: row.alerts };
  }

  private async heldAmount(attemptId: string): Promise<{ amountUsd: string; budgetIds: string[] } | undefined> {
    const [row] = await this.sql.$queryRawUnsafe<{ amount: string; budget_ids: string[] }[]>(
      `SELECT trim_scale(amount_usd)::text AS amount, budget_ids::text[] AS budget_ids FROM spend_reservations WHERE attempt_id = $1`,
      attemptId,
    );
    return row ? { amountUsd: row.amount, budgetIds: row.budget_ids } : undefined;
  }
}
