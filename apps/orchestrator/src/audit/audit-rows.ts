import type { ChainEvent, SealedEvent } from '@atelier/contracts';
import { Prisma } from '@atelier/persistence';

// Audit events are read with raw SQL in one shape everywhere (list, export, verify,
// sealer), because the hash covers occurred_at to the microsecond: Prisma and node-pg
// turn timestamptz(6) into a JS Date, which keeps milliseconds only.

/** An event's own columns, as stored in audit_events (bare names: they read the same with or without the chain joined). */
export const AUDIT_EVENT_COLUMNS = Prisma.sql`
  seq,
  to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
  tenant_id::text AS tenant_id, actor, action, subject, task_id::text AS task_id,
  trace_id, request_id, data`;

/** An event and its seal: use with AUDIT_EVENTS_WITH_CHAIN, or any join that names the chain `c`. */
export const AUDIT_COLUMNS = Prisma.sql`${AUDIT_EVENT_COLUMNS}, c.chain_pos, c.prev_hash, c.hash`;

/**
 * Every event, with its seal while it has one (the chain lives in audit_chain, so sealing
 * never rewrites an event). USING (seq) leaves one `seq`, audit_events' own (a LEFT JOIN
 * keeps the left side's), so filters and ORDER BY on it still use its indexes.
 */
export const AUDIT_EVENTS_WITH_CHAIN = Prisma.sql`audit_events LEFT JOIN audit_chain c USING (seq)`;

export interface AuditEventRow {
  seq: bigint;
  occurred_at: string;
  tenant_id: string | null;
  actor: string;
  action: string;
  subject: string;
  task_id: string | null;
  trace_id: string | null;
  request_id: string | null;
  data: Record<string, unknown>;
}

export interface AuditRow extends AuditEventRow {
  chain_pos: bigint | null;
  prev_hash: string | null;
  hash: string | null;
}

/** An event as the API shows it; a sealed one is exactly an export line (SealedEvent). */
export interface AuditEventView extends Omit<SealedEvent, 'position' | 'prevHash' | 'hash'> {
  position: number | null;
  prevHash: string | null;
  hash: string | null;
}

export function toAuditEventView(row: AuditRow): AuditEventView {
  return {
    position: row.chain_pos === null ? null : toSafeNumber(row.chain_pos),
    seq: toSafeNumber(row.seq),
    occurredAt: row.occurred_at,
    tenantId: row.tenant_id,
    actor: row.actor,
    action: row.action,
    subject: row.subject,
    taskId: row.task_id,
    traceId: row.trace_id,
    requestId: row.request_id,
    data: row.data,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** What the hash of an event covers, were it sealed at `position`. */
export function toChainEvent(row: AuditEventRow, position: number): ChainEvent {
  return { ...toAuditEventView({ ...row, chain_pos: null, prev_hash: null, hash: null }), position };
}

export function toSealedEvent(row: AuditRow): SealedEvent {
  const view = toAuditEventView(row);
  if (view.position === null || view.prevHash === null || view.hash === null) throw new Error(`audit event ${view.seq} is not sealed`);
  return { ...view, position: view.position, prevHash: view.prevHash, hash: view.hash };
}

function toSafeNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${value} exceeds the safe integer range`);
  return Number(value);
}
