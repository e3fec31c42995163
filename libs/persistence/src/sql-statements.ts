import type { Pool } from 'pg';
import { type AuditEventInput, auditRow } from './audit-writer';

// Helpers for the hot path's single-statement transactions (raw SQL on PrismaService.sql):
// one round trip and one commit per state change, the audit events riding in the same
// statement as jsonb parameters.

/** What the hot path needs of a pool or a client. */
export type SqlRunner = Pick<Pool, 'query'>;

/**
 * A statement prepared once per connection under `name` (pg's named statements): later
 * executions skip parsing and, after a few runs, planning too, which is most of what a
 * short statement costs the server. Use as `sql.query({ ...STATEMENT, values })`.
 */
export interface NamedStatement {
  readonly name: string;
  readonly text: string;
}

export function namedStatement(name: string, text: string): NamedStatement {
  return { name, text };
}

/**
 * A condition that is always true and makes the statement's transaction commit without
 * waiting for its WAL to reach the disk (synchronous_commit off, for this transaction
 * only). Under load most of a hot statement's time is that wait (bench/RESULTS.md,
 * "Session 21"). Only for a change whose loss in a Postgres crash is harmless, because
 * nothing outside the database acts on it before a later durable commit (whose flush
 * covers all WAL written before it), or because it is only a hint. Use it where it is
 * evaluated whatever the statement finds: a WHERE clause of the statement's own, not
 * referring to any row, is (a one-time filter, run first).
 */
export const WITHOUT_WAITING_FOR_FLUSH = `(SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL`;

/**
 * The rows of a group statement's array parameters, one array per column and one element
 * per request, as `unnest` gives them: `params` like `$1::uuid[]`, named `columns`, and
 * the request's position under the name `ordinality` when given.
 *
 * The arrays are read through a subquery the planner cannot look into (OFFSET 0). Given
 * to `unnest` directly, each custom plan counts their elements and so costs less than the
 * generic plan, and Postgres plans every execution afresh: 1-2 ms for a step's end, more
 * than it takes to run (bench/RESULTS.md, "Session 17"). Fenced, both plans cost the same,
 * and Postgres keeps the generic one after five executions.
 */
export function arrayRows(params: readonly string[], columns: readonly string[], ordinality?: string): string {
  if (params.length !== columns.length) throw new Error(`arrayRows: ${params.length} arrays for ${columns.length} columns`);
  const arrays = params.map((param, i) => `${param} AS a${i + 1}`).join(', ');
  const unnested = params.map((_, i) => `a.a${i + 1}`).join(', ');
  const names = ordinality ? [...columns, ordinality] : columns;
  return `SELECT r.* FROM (SELECT ${arrays} OFFSET 0) a, unnest(${unnested})${ordinality ? ' WITH ORDINALITY' : ''} AS r(${names.join(', ')})`;
}

/** Audit events as one jsonb parameter, for `insertGroupAudit` / `auditRowsFrom`. */
export function auditJson(events: readonly AuditEventInput[]): string {
  return JSON.stringify(events.map(auditRow));
}

export const AUDIT_COLUMNS = 'actor, action, subject, tenant_id, task_id, trace_id, request_id, data';

/** A `SELECT` of the audit rows in the jsonb parameter `param` (e.g. `$4`), with their array position as `ord`. */
export function auditRowsFrom(param: string): string {
  return `SELECT a.actor, a.action, a.subject, a.tenant_id, a.task_id, a.trace_id, a.request_id, a.data, a.ord
    FROM ROWS FROM (jsonb_to_recordset(${param}::jsonb) AS (actor text, action text, subject text, tenant_id uuid, task_id uuid, trace_id text, request_id text, data jsonb))
      WITH ORDINALITY AS a(actor, action, subject, tenant_id, task_id, trace_id, request_id, data, ord)`;
}

/**
 * `INSERT` of the audit events a group's statement carries per request: each request row,
 * aliased `r` in `from` (e.g. `req r JOIN step ON step.id = r.step_id`, keeping only the
 * requests that took effect), has its events in `r.events` (jsonb, see auditJson) and its
 * place in the group in `r.ord`; `seq` follows request order, then event order. `data` is
 * the SQL of each event's data, the event aliased `e`.
 */
export function insertGroupAudit(from: string, data = 'e.data'): string {
  return `INSERT INTO audit_events (${AUDIT_COLUMNS})
    SELECT e.actor, e.action, e.subject, e.tenant_id, e.task_id, e.trace_id, e.request_id, ${data}
      FROM ${from} CROSS JOIN LATERAL (${auditRowsFrom('r.events')}) e
     ORDER BY r.ord, e.ord`;
}
