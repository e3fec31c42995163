import type { AuditAction } from '@atelier/contracts';
import { redactValue } from '@atelier/observability';
import type { Prisma } from './generated/prisma/client';

/** Who acted: an API key (`apikey:<id>`) or a platform service (`service:<name>`). */
export type Actor = `apikey:${string}` | `service:${string}`;

/** An event's actor: also `anonymous`, a caller whose key is not known (a refused request). */
export type AuditActor = Actor | 'anonymous';

export interface AuditEventInput {
  action: AuditAction;
  actor: AuditActor;
  subject: string;
  tenantId?: string | null;
  taskId?: string | null;
  traceId?: string | null;
  requestId?: string | null;
  data?: Prisma.InputJsonObject;
}

type AuditClient = Pick<Prisma.TransactionClient, '$executeRaw'>;

/**
 * Appends audit events inside the caller's transaction, so an event exists exactly when
 * the change it describes committed. One raw INSERT for all of them, in the given order:
 * it joins every state change, so it is kept to a single statement without Prisma's
 * query planning. The database stamps occurred_at and tx_id and leaves the chain columns
 * to the sealer (docs/audit.md). Secrets never enter the trail: every string in `data`
 * passes the same redaction as logs, whatever the caller put there (an upstream error
 * message, a pasted key).
 */
export async function appendAudit(tx: AuditClient, ...events: AuditEventInput[]): Promise<void> {
  if (events.length === 0) return;
  await tx.$executeRaw`
    INSERT INTO audit_events (action, actor, subject, tenant_id, task_id, trace_id, request_id, data)
    SELECT e.event->>'action', e.event->>'actor', e.event->>'subject', (e.event->>'tenant_id')::uuid, (e.event->>'task_id')::uuid,
           e.event->>'trace_id', e.event->>'request_id', e.event->'data'
      FROM jsonb_array_elements(${JSON.stringify(events.map(auditRow))}::jsonb) WITH ORDINALITY AS e(event, ordinal)
     ORDER BY e.ordinal`;
}

/** An event as the row it becomes: absent fields NULL, no data `{}`, secrets redacted from data. */
export function auditRow(event: AuditEventInput) {
  return {
    action: event.action,
    actor: event.actor,
    subject: event.subject,
    tenant_id: event.tenantId ?? null,
    task_id: event.taskId ?? null,
    trace_id: event.traceId ?? null,
    request_id: event.requestId ?? null,
    data: redactValue(event.data ?? {}),
  };
}
