import type { AuditAction } from '@atelier/contracts';
import type { Prisma } from './generated/prisma/client';

/** Who acted: an API key (`apikey:<id>`) or a platform service (`service:<name>`). */
export type Actor = `apikey:${string}` | `service:${string}`;

export interface AuditEventInput {
  action: AuditAction;
  actor: Actor;
  subject: string;
  tenantId?: string | null;
  taskId?: string | null;
  traceId?: string | null;
  requestId?: string | null;
  data?: Prisma.InputJsonObject;
}

type AuditClient = Pick<Prisma.TransactionClient, 'auditEvent'>;

/**
 * Appends audit events inside the caller's transaction, so an event exists exactly when
 * the change it describes committed. Chain columns are left for the sealer.
 */
export async function appendAudit(tx: AuditClient, ...events: AuditEventInput[]): Promise<void> {
  if (events.length === 0) return;
  await tx.auditEvent.createMany({
    data: events.map((event) => ({
      action: event.action,
      actor: event.actor,
      subject: event.subject,
      tenantId: event.tenantId ?? null,
      taskId: event.taskId ?? null,
      traceId: event.traceId ?? null,
      requestId: event.requestId ?? null,
      data: event.data ?? {},
    })),
  });
}
