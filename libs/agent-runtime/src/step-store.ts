import { Injectable } from '@nestjs/common';
import type { AgentName, StepError, StepKind } from '@atelier/contracts';
import type { ModelCallSummary } from './model-caller';
import {
  appendAudit,
  arrayRows,
  AuditContentCapture,
  auditJson,
  CallGrouper,
  carriedSettlementSql,
  eachKeyOncePerStatement,
  insertGroupAudit,
  type NamedStatement,
  namedStatement,
  PrismaService,
  type Prisma,
  type Settlement,
  type SettleResult,
  type SettleRow,
  SpendLedger,
  WITHOUT_WAITING_FOR_FLUSH,
} from '@atelier/persistence';

export interface StepIdentity {
  taskId: string;
  stepId: string;
  tenantId: string;
  traceId: string;
}

export interface ClaimedStep {
  key: string;
  kind: StepKind;
  /** This delivery's attempt number (1 on the first run). */
  attempt: number;
  /** Attempts counted against the retry bound: since the last dead-letter replay, less those handed back. */
  attemptsUsed: number;
  /** The step's publication (steps.dispatch_seq): its result message id carries it. */
  dispatchSeq: number;
  input: Record<string, unknown>;
  /** The attempt before this one stopped without an outcome (its process died or lost its lease). */
  interruptedAttempt?: number;
  deadlineAt: Date | null;
}

export type Claim =
  | { type: 'claimed'; step: ClaimedStep }
  /** Already completed, failed or dead-lettered: never run again; its result is re-published. */
  | { type: 'finished'; status: 'completed' | 'failed' | 'dead_lettered'; error: StepError | null; dispatchSeq: number }
  /** Another delivery holds the lease (a duplicate arrived while the step runs). */
  | { type: 'busy'; retryInMs: number }
  /** The step was cancelled or its task is over (cancelled, failed, past its deadline). */
  | { type: 'stopped' }
  /** Every attempt was used up without an outcome (each process died mid-step): dead-letter it. */
  | { type: 'exhausted'; attempts: number; dispatchSeq: number }
  | { type: 'missing' };

/** What the step row keeps about how its attempt ran, beside its output: the model calls it made. */
export interface StepMetadata {
  readonly modelCalls: readonly ModelCallSummary[];
}

/** How an attempt ends, each written with its audit event in ONE statement. */
export type AttemptEnd =
  /**
   * `settlements`: the attempt's model calls still to be settled (its last, see
   * ModelCaller), written in the same statement whether or not the step still takes the end.
   */
  | { type: 'completed'; output: Record<string, unknown>; metadata?: StepMetadata; settlements?: readonly Settlement[] }
  | { type: 'failed'; error: StepError; metadata?: StepMetadata }
  | { type: 'dead_lettered'; error: StepError; metadata?: StepMetadata }
  /** Back to `queued` for another delivery after a retryable failure, keeping the error seen; the attempt counts. */
  | { type: 'released'; error: StepError | null }
  /**
   * Back to `queued` for another delivery without using up an attempt: the step was handed
   * over before it could finish for reasons of this process (shutdown, an open circuit
   * breaker), not of the step. Rolling deploys during a long step never dead-letter it.
   */
  | { type: 'handed_back' };

/** The settlements an end carries (only a completion carries any). */
export function carriedSettlements(end: AttemptEnd): readonly Settlement[] {
  return end.type === 'completed' ? (end.settlements ?? []) : [];
}

export interface AttemptEndResult {
  /** The step row took this end (false: the lease was lost or the step was stopped meanwhile). */
  applied: boolean;
  /** What each of the end's settlements came to, in their order. */
  settled: readonly SettleResult[];
}

interface ClaimRow {
  step_id: string;
  status: string;
  attempt: number;
  attempt_base: number;
  dispatch_seq: number;
  error: StepError | null;
  key: string;
  kind: StepKind;
  leased: boolean;
  lease_left_ms: number;
  task_status: string;
  deadline_at: Date | null;
  past_deadline: boolean;
  claimed_attempt: number | null;
  input: Record<string, unknown> | null;
  previous_status: string | null;
}

const FINISHED = ['completed', 'failed', 'dead_lettered'];
/** When the snapshot and the update disagree (a concurrent change), look again shortly. */
const RACE_RETRY_MS = 200;

// Claims of a group of steps (each step once), in one statement: arrays $1 step id, $2
// task id, $3 lease owner, $4 tenant, $5 trace id; $6 agent, $7 lease ms, $8 attempt
// bound, $9 actor. One row per step found.
//
// Lock order: the first claim of a task also starts it (task_started), so it locks the
// task row BEFORE the step row, the order in which the end of a task (cancel, deadline:
// the orchestrator's task.end) takes them; the other way round a cancel racing a first
// claim deadlocks. Every statement that locks several rows takes task rows in id order,
// then step rows in id order (the orchestrator's dispatch marks lock a batch of steps
// while claims and ends of the same steps run): locked in the order of a join instead, two
// such statements deadlock, and Postgres breaks the tie only after deadlock_timeout (1 s).
// Later claims (the task already running) leave the task row alone. Statuses are compared
// as text, so the planner finds tasks and steps by id, not through their status indexes
// (every task queued, every step in flight).
//
// The claim commits without waiting for its WAL to reach the disk (WITHOUT_WAITING_FOR_FLUSH):
// lost in a Postgres crash, the step is back as it was and another delivery runs it (the
// relay re-publishes a dispatched step left queued), its step.started event lost with it.
// Nothing outside acts on a claim before the agent's next write, which is durable and
// makes the claim so: the reservation before any model call, or the attempt's end before
// its result is published. A seal covering its event is a durable commit too.
const CLAIM = namedStatement('step.claim.v6', `
WITH req AS MATERIALIZED (
  ${arrayRows(['$1::uuid[]', '$2::uuid[]', '$3::text[]', '$4::uuid[]', '$5::text[]'], ['step_id', 'task_id', 'owner', 'tenant_id', 'trace_id'])}
), task_lock AS (
  SELECT id FROM tasks WHERE id IN (SELECT task_id FROM req) AND status::text = 'queued' ORDER BY id FOR NO KEY UPDATE
), step_lock AS (
  -- The scalar subquery runs first (an init plan): the task rows are locked before any step row.
  SELECT id FROM steps WHERE id IN (SELECT step_id FROM req) AND (SELECT count(*) FROM task_lock) >= 0 ORDER BY id FOR NO KEY UPDATE
), current AS (
  SELECT r.step_id, r.task_id, r.owner, r.tenant_id, r.trace_id,
         s.status::text AS status, s.attempt, s.attempt_base, s.dispatch_seq, s.error, s.key, s.kind,
         coalesce(s.lease_until > now(), false) AS leased,
         greatest(0, coalesce(extract(epoch FROM s.lease_until - now()) * 1000, 0))::int AS lease_left_ms,
         t.status::text AS task_status, t.deadline_at, coalesce(t.deadline_at <= now(), false) AS past_deadline
  FROM req r JOIN steps s ON s.id = r.step_id AND s.task_id = r.task_id AND s.agent = $6
       JOIN tasks t ON t.id = s.task_id LEFT JOIN task_lock ON task_lock.id = t.id
), claimed AS (
  UPDATE steps s SET status = 'running', attempt = s.attempt + 1, started_at = now(), updated_at = now(),
         lease_owner = c.owner, lease_until = now() + $7 * interval '1 millisecond'
  FROM current c JOIN step_lock l ON l.id = c.step_id
  WHERE s.id = c.step_id
    AND (s.status::text = 'queued' OR (s.status::text = 'running' AND (s.lease_until IS NULL OR s.lease_until <= now())))
    AND s.attempt - s.attempt_base < $8
    AND c.task_status IN ('queued', 'running') AND NOT c.past_deadline
  RETURNING s.id, s.attempt, s.input, c.status AS previous_status
), task_started AS (
  UPDATE tasks SET status = 'running', updated_at = now()
  WHERE id IN (SELECT c.task_id FROM current c JOIN claimed cl ON cl.id = c.step_id) AND status::text = 'queued'
), audit AS (
  INSERT INTO audit_events (actor, action, subject, tenant_id, task_id, trace_id, data)
  SELECT $9, 'step.started', 'step:' || c.step_id::text, c.tenant_id, c.task_id, c.trace_id,
         jsonb_build_object('key', c.key, 'kind', c.kind, 'attempt', cl.attempt)
           || CASE WHEN cl.previous_status = 'running' THEN jsonb_build_object('interruptedAttempt', cl.attempt - 1) ELSE '{}'::jsonb END
  FROM claimed cl JOIN current c ON c.step_id = cl.id
)
SELECT c.step_id::text AS step_id, c.status, c.attempt, c.attempt_base, c.dispatch_seq, c.error, c.key, c.kind, c.leased, c.lease_left_ms,
       c.task_status, c.deadline_at, c.past_deadline, cl.attempt AS claimed_attempt, cl.input, cl.previous_status
FROM current c LEFT JOIN claimed cl ON cl.id = c.step_id
WHERE ${WITHOUT_WAITING_FOR_FLUSH}`);

/**
 * Who may end an attempt: its lease holder, or (no owner) anyone once no live lease is
 * left. The status is compared as text: compared as the enum, the planner finds the
 * group's steps through the status index, reading every step in flight, instead of by id.
 */
const FENCE = `((r.owner IS NOT NULL AND s.lease_owner = r.owner AND s.status::text = 'running')
  OR (r.owner IS NULL AND s.status::text IN ('queued', 'running') AND (s.lease_until IS NULL OR s.lease_until <= now())))`;

/**
 * Each end's transition; `r.value` is the JSON text of the output (completed), of the
 * error, or null (handed back). An output's digest is of that very text: a step result
 * carries the output, and what the orchestrator plans from it is checked against this
 * digest (orchestrator's PlanPremise).
 */
const STEP_UPDATES: Record<AttemptEnd['type'], string> = {
  completed: `status = 'completed', output = r.value::jsonb, output_sha256 = encode(sha256(convert_to(r.value, 'UTF8')), 'hex'), metadata = r.metadata, error = NULL, completed_at = now(), lease_until = NULL`,
  failed: `status = 'failed', error = r.value::jsonb, metadata = r.metadata, completed_at = now(), lease_until = NULL`,
  dead_lettered: `status = 'dead_lettered', error = r.value::jsonb, metadata = r.metadata, completed_at = now(), dead_lettered_at = now(), lease_until = NULL`,
  released: `status = 'queued', error = r.value::jsonb, lease_owner = NULL, lease_until = NULL`,
  // attempt_base counts the attempts the retry bound ignores (see ClaimedStep.attemptsUsed).
  handed_back: `status = 'queued', error = coalesce(r.value::jsonb, s.error), lease_owner = NULL, lease_until = NULL, attempt_base = attempt_base + 1`,
};

/**
 * Ends the attempts of a group of steps (each step once), each transition with its audit
 * events, in one statement: arrays $1 step id, $2 lease owner, $3 value, $4 audit events,
 * $5 metadata. Answers the ids of the steps it ended.
 *
 * A completion also settles the attempts' model calls not settled yet ($6 on: the
 * ledger's settlement arrays, see carriedSettlementSql) into the ledger, `llm_calls` and
 * their `llm.call` events: one round trip and one commit less per step than settling
 * apart. They are settled whether or not the step still takes the end (the calls were
 * made and billed either way), and their events are written before the step's, so the
 * trail reads call, then completion.
 */
function endAttemptsSql(type: AttemptEnd['type']): string {
  const settlement = type === 'completed' ? carriedSettlementSql(6) : undefined;
  // The step's events wait for the calls' events (an init plan on call_audit runs first).
  const requests = settlement ? '(SELECT * FROM req WHERE (SELECT count(*) FROM call_audit) >= 0) r' : 'req r';
  return `
WITH req AS MATERIALIZED (
  ${arrayRows(['$1::uuid[]', '$2::text[]', '$3::text[]', '$4::jsonb[]', '$5::jsonb[]'], ['step_id', 'owner', 'value', 'events', 'metadata'], 'ord')}
), ${settlement ? `${settlement.ctes}, ` : ''}step_lock AS (
  -- In id order, as every statement locking several steps does (see CLAIM).
  SELECT id FROM steps WHERE id IN (SELECT step_id FROM req) ORDER BY id FOR NO KEY UPDATE
), step AS (
  UPDATE steps s SET ${STEP_UPDATES[type]}, updated_at = now()
  FROM req r JOIN step_lock l ON l.id = r.step_id WHERE s.id = r.step_id AND ${FENCE}
  RETURNING s.id
), audit AS (${insertGroupAudit(`${requests} JOIN step ON step.id = r.step_id`)})
SELECT coalesce(array_agg(id::text), '{}') AS ended${settlement ? `, ${settlement.columns}` : ''} FROM step`;
}

const END_TYPES = ['completed', 'failed', 'dead_lettered', 'released', 'handed_back'] as const;

interface ClaimRequest {
  id: StepIdentity;
  owner: string;
}

/** One attempt's end as the statement's arrays take it, with the settlements it carries. */
interface EndRow {
  stepId: string;
  owner: string | null;
  value: string | null;
  events: string;
  metadata: string | null;
  settlements: readonly Settlement[];
}

const END_ATTEMPTS = Object.fromEntries(
  END_TYPES.map((type) => [type, namedStatement(`step.end.${type}.v5`, endAttemptsSql(type))]),
) as Record<AttemptEnd['type'], NamedStatement>;

/** A renewal lost in a Postgres crash only shortens the lease: a delivery that takes the step over is fenced off from ending it (FENCE). */
const RENEW_LEASE = namedStatement(
  'step.renew-lease.v2',
  `UPDATE steps SET lease_until = now() + $3 * interval '1 millisecond' WHERE id = $1 AND lease_owner = $2 AND status = 'running' AND ${WITHOUT_WAITING_FOR_FLUSH}`,
);

const END_ACTION = { completed: 'step.completed', failed: 'step.failed', dead_lettered: 'step.dead_lettered' } as const;

/**
 * The agent's writes. Each state change is ONE statement on the shared pool (one round
 * trip, one commit) carrying its audit events; see PrismaService.sql for why.
 */
@Injectable()
export class StepStore {
  private readonly ends = Object.fromEntries(
    END_TYPES.map((type) => [type, new CallGrouper<EndRow, AttemptEndResult>((group) => this.endGroup(type, group))]),
  ) as Record<AttemptEnd['type'], CallGrouper<EndRow, AttemptEndResult>>;
  /** By agent, lease and attempt bound (one set per process in practice). */
  private readonly claims = new Map<string, CallGrouper<ClaimRequest, ClaimRow | undefined>>();

  constructor(
    private readonly prisma: PrismaService,
    private readonly audit: AuditContentCapture,
    private readonly ledger: SpendLedger,
  ) {}

  /**
   * Takes a step for this delivery under a lease of `leaseMs`. A queued step is claimed; so
   * is a running one whose lease lapsed (its delivery died), which records the lapsed
   * attempt as interrupted. A live lease, a finished step, a stopped task or a used-up
   * attempt budget each say so instead. Claims that arrive while one is being written go
   * together in the next statement (group commit).
   */
  async claim(id: StepIdentity, agent: AgentName, owner: string, leaseMs: number, maxAttempts: number): Promise<Claim> {
    const terms = `${agent}/${leaseMs}/${maxAttempts}`;
    let claims = this.claims.get(terms);
    if (!claims) {
      claims = new CallGrouper<ClaimRequest, ClaimRow | undefined>((group) => this.claimGroup(group, agent, leaseMs, maxAttempts));
      this.claims.set(terms, claims);
    }
    const row = await claims.submit({ id, owner });
    if (!row) return { type: 'missing' };
    if (row.claimed_attempt !== null) {
      return {
        type: 'claimed',
        step: {
          key: row.key,
          kind: row.kind,
          attempt: row.claimed_attempt,
          attemptsUsed: row.claimed_attempt - row.attempt_base,
          dispatchSeq: row.dispatch_seq,
          input: row.input ?? {},
          ...(row.previous_status === 'running' ? { interruptedAttempt: row.claimed_attempt - 1 } : {}),
          deadlineAt: row.deadline_at,
        },
      };
    }
    if (FINISHED.includes(row.status)) return { type: 'finished', status: row.status as 'completed', error: row.error, dispatchSeq: row.dispatch_seq };
    if (row.status === 'cancelled' || !['queued', 'running'].includes(row.task_status) || row.past_deadline) return { type: 'stopped' };
    if (row.status === 'running' && row.leased) return { type: 'busy', retryInMs: row.lease_left_ms + RACE_RETRY_MS };
    if (row.attempt - row.attempt_base >= maxAttempts) return { type: 'exhausted', attempts: row.attempt, dispatchSeq: row.dispatch_seq };
    return { type: 'busy', retryInMs: RACE_RETRY_MS };
  }

  /** Extends the lease while the step runs; false when it is no longer ours (taken over, stopped). */
  async renewLease(stepId: string, owner: string, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.prisma.pool.query({ ...RENEW_LEASE, values: [stepId, owner, leaseMs] });
    return rowCount === 1;
  }

  /**
   * Ends an attempt. `owner` is the lease holder; null ends a step nobody holds (its
   * attempts ran out while each of its processes died). Ends of the same kind that arrive
   * while one is being written go together in the next statement (group commit).
   */
  async endAttempt(id: StepIdentity, agent: AgentName, owner: string | null, end: AttemptEnd): Promise<AttemptEndResult> {
    const stepValue = end.type === 'completed' ? end.output : end.type === 'handed_back' ? null : end.error;
    // One serialisation: the row keeps this text (and its digest), the audit event captures it.
    const valueJson = stepValue === null ? null : JSON.stringify(stepValue);
    const metadata = end.type === 'released' || end.type === 'handed_back' ? undefined : end.metadata;
    const events =
      end.type === 'released' || end.type === 'handed_back' ?
        '[]'
      : auditJson([
          {
            action: END_ACTION[end.type],
            actor: actor(agent),
            subject: `step:${id.stepId}`,
            tenantId: id.tenantId,
            taskId: id.taskId,
            traceId: id.traceId,
            data: {
              ...(end.type === 'completed' ? { output: this.audit.capture(valueJson as string) } : { ...end.error }),
              // Plain data (strings, numbers, booleans, arrays of them): JSON as it is.
              ...(metadata && metadata.modelCalls.length > 0 ? { modelCalls: metadata.modelCalls as unknown as Prisma.InputJsonArray } : {}),
            },
          },
        ]);
    return this.ends[end.type].submit({
      stepId: id.stepId,
      owner,
      value: valueJson,
      events,
      metadata: metadata ? JSON.stringify(metadata) : null,
      settlements: carriedSettlements(end),
    });
  }

  /**
   * A message no step can be found for (bad schema, unknown step) is recorded before it is
   * terminated. It names no trustworthy tenant, so the event has none; the payload is kept
   * as its SHA-256 and size only (it may hold anything).
   */
  async recordRejected(agent: AgentName, details: Prisma.InputJsonObject): Promise<void> {
    await appendAudit(this.prisma, { action: 'message.rejected', actor: actor(agent), subject: `message:${String(details['stream'])}/${String(details['streamSequence'])}`, data: details });
  }

  private endGroup(type: AttemptEnd['type'], group: EndRow[]): Promise<PromiseSettledResult<AttemptEndResult>[]> {
    return eachKeyOncePerStatement(group, (row) => row.stepId.toLowerCase(), (rows) => this.endStatement(type, rows));
  }

  private claimGroup(group: ClaimRequest[], agent: AgentName, leaseMs: number, maxAttempts: number): Promise<PromiseSettledResult<ClaimRow | undefined>[]> {
    return eachKeyOncePerStatement(group, (request) => request.id.stepId.toLowerCase(), (requests) => this.claimStatement(requests, agent, leaseMs, maxAttempts));
  }

  private async claimStatement(requests: ClaimRequest[], agent: AgentName, leaseMs: number, maxAttempts: number): Promise<(ClaimRow | undefined)[]> {
    const column = <T>(pick: (request: ClaimRequest) => T) => requests.map(pick);
    const { rows } = await this.prisma.pool.query<ClaimRow>({
      ...CLAIM,
      values: [
        column((r) => r.id.stepId),
        column((r) => r.id.taskId),
        column((r) => r.owner),
        column((r) => r.id.tenantId),
        column((r) => r.id.traceId),
        agent,
        leaseMs,
        maxAttempts,
        actor(agent),
      ],
    });
    const byStep = new Map(rows.map((row) => [row.step_id, row]));
    // Postgres answers uuids in lower case, whatever case they were asked in.
    return requests.map((request) => byStep.get(request.id.stepId.toLowerCase()));
  }

  private async endStatement(type: AttemptEnd['type'], rows: EndRow[]): Promise<AttemptEndResult[]> {
    const column = <T>(pick: (row: EndRow) => T) => rows.map(pick);
    const settlements = type === 'completed' ? this.ledger.carriedSettlementParams(rows.flatMap((row) => row.settlements)) : [];
    const { rows: result } = await this.prisma.pool.query<{ ended: string[] } & Partial<SettleRow>>({
      ...END_ATTEMPTS[type],
      values: [column((r) => r.stepId), column((r) => r.owner), column((r) => r.value), column((r) => r.events), column((r) => r.metadata), ...settlements],
    });
    const [row] = result;
    if (!row) throw new Error('the attempt end statement returned no row');
    const ended = new Set(row.ended);
    return rows.map((end) => ({
      applied: ended.has(end.stepId.toLowerCase()),
      settled: end.settlements.length === 0 ? [] : this.ledger.carriedSettlementResults(row as SettleRow, end.settlements),
    }));
  }
}

function actor(agent: AgentName) {
  return `service:${agent}-agent` as const;
}
