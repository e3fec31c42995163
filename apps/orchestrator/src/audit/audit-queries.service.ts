import { Injectable } from '@nestjs/common';
import type { ListAuditQuery, TaskAuditQuery } from '@atelier/contracts';
import { Prisma, PrismaService } from '@atelier/persistence';
import { type Caller, isAdmin } from '../auth/caller';
import { Problem } from '../http/problem';
import { readChainHead, type ChainHead } from './audit-chain-reader';
import { AUDIT_COLUMNS, AUDIT_EVENTS_WITH_CHAIN, type AuditEventView, type AuditRow, toAuditEventView } from './audit-rows';

export interface AuditPage {
  items: AuditEventView[];
  nextCursor: string | null;
}

/** Reads of the trail. A tenant sees its own events; an admin key sees every event. */
@Injectable()
export class AuditQueriesService {
  constructor(private readonly prisma: PrismaService) {}

  /** Newest first, keyset pagination on seq, so pages stay stable while events arrive. */
  async list(caller: Caller, query: ListAuditQuery): Promise<AuditPage> {
    const after = query.cursor ? decodeCursor(query.cursor) : undefined;
    const conditions = [
      tenantScope(caller),
      query.task ? Prisma.sql`task_id = ${query.task}::uuid` : undefined,
      query.action ? Prisma.sql`action = ${query.action}` : undefined,
      query.actor ? Prisma.sql`actor = ${query.actor}` : undefined,
      query.from ? Prisma.sql`occurred_at >= ${query.from}::timestamptz` : undefined,
      query.to ? Prisma.sql`occurred_at < ${query.to}::timestamptz` : undefined,
      after !== undefined ? Prisma.sql`seq < ${after}` : undefined,
    ];
    const rows = await this.prisma.$queryRaw<AuditRow[]>`
      SELECT ${AUDIT_COLUMNS} FROM ${AUDIT_EVENTS_WITH_CHAIN} WHERE ${where(conditions)} ORDER BY seq DESC LIMIT ${query.limit + 1}`;
    return page(rows, query.limit);
  }

  /** One task's events in the order they happened; another tenant's task is a 404. */
  async taskTimeline(caller: Caller, taskId: string, query: TaskAuditQuery): Promise<AuditPage> {
    const task = await this.prisma.task.findFirst({ where: { id: taskId, ...(isAdmin(caller) ? {} : { tenantId: caller.tenantId }) }, select: { id: true } });
    if (!task) throw Problem.notFound(`No task ${taskId}.`);
    const after = query.cursor ? decodeCursor(query.cursor) : undefined;
    const rows = await this.prisma.$queryRaw<AuditRow[]>`
      SELECT ${AUDIT_COLUMNS} FROM ${AUDIT_EVENTS_WITH_CHAIN}
       WHERE ${where([tenantScope(caller), Prisma.sql`task_id = ${taskId}::uuid`, after !== undefined ? Prisma.sql`seq > ${after}` : undefined])}
       ORDER BY seq ASC LIMIT ${query.limit + 1}`;
    return page(rows, query.limit);
  }

  async get(caller: Caller, seq: number): Promise<AuditEventView> {
    const [row] = await this.prisma.$queryRaw<AuditRow[]>`
      SELECT ${AUDIT_COLUMNS} FROM ${AUDIT_EVENTS_WITH_CHAIN} WHERE ${where([tenantScope(caller), Prisma.sql`seq = ${seq}`])}`;
    if (!row) throw Problem.notFound(`No audit event ${seq}.`);
    return toAuditEventView(row);
  }

  head(): Promise<ChainHead> {
    return readChainHead(this.prisma);
  }
}

/** Events without a tenant (platform-level) are visible to admins only. */
export function tenantScope(caller: Caller): Prisma.Sql | undefined {
  return isAdmin(caller) ? undefined : Prisma.sql`tenant_id = ${caller.tenantId}::uuid`;
}

function where(conditions: (Prisma.Sql | undefined)[]): Prisma.Sql {
  const present = conditions.filter((condition): condition is Prisma.Sql => condition !== undefined);
  return present.length ? Prisma.join(present, ' AND ') : Prisma.sql`TRUE`;
}

function page(rows: AuditRow[], limit: number): AuditPage {
  const items = rows.slice(0, limit).map(toAuditEventView);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : null };
}

function encodeCursor(seq: number): string {
  return Buffer.from(JSON.stringify({ seq })).toString('base64url');
}

function decodeCursor(value: string): number {
  try {
    const { seq } = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as { seq?: unknown };
    if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0) return seq;
  } catch {
    // fall through to the validation problem
  }
  throw Problem.validation([{ field: 'cursor', message: 'is not a cursor returned by this API' }]);
}
