import { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import type { ExportAuditQuery, WithheldEvent } from '@atelier/contracts';
import { PrismaService } from '@atelier/persistence';
import { type Caller, isAdmin } from '../auth/caller';
import { readChainHead, readChainPages } from './audit-chain-reader';
import { type AuditRow, toSealedEvent } from './audit-rows';

export interface AuditExport {
  from: number;
  to: number;
  contentType: string;
  fileName: string;
  body: Readable;
}

const CSV_COLUMNS = ['position', 'seq', 'occurred_at', 'tenant_id', 'actor', 'action', 'subject', 'task_id', 'trace_id', 'request_id', 'data', 'prev_hash', 'hash'];

/**
 * Streams the sealed chain over [from, to] (default: all of it, up to the head when the
 * export starts). One page of rows is in memory at a time, and the next page is read only
 * when the client has taken the previous one (the stream's back-pressure).
 *
 * NDJSON is the verifiable form: one chain entry per line, in position order. A tenant's
 * export carries its own events in full and every other position as a link only
 * ({position, prevHash, hash, withheld: true}), so the chain stays continuous and
 * checkable (`atelier audit verify --file`) without disclosing other tenants' events.
 * CSV is for reading in a spreadsheet: the caller's events only.
 */
@Injectable()
export class AuditExportService {
  constructor(private readonly prisma: PrismaService) {}

  async open(caller: Caller, query: ExportAuditQuery): Promise<AuditExport> {
    // The range is fixed before the first byte leaves, so a database problem is still a
    // proper error response, and events sealed meanwhile do not stretch the export.
    const head = await readChainHead(this.prisma);
    const from = query.from ?? 1;
    const to = Math.min(query.to ?? head.position, head.position);
    const pages = readChainPages(this.prisma, from, to);
    const visible = (row: AuditRow) => isAdmin(caller) || row.tenant_id === caller.tenantId;
    const lines = query.format === 'csv' ? csvLines(pages, visible) : ndjsonLines(pages, visible);
    return {
      from,
      to,
      contentType: query.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      fileName: `atelier-audit-${from}-${to}.${query.format}`,
      body: Readable.from(lines, { highWaterMark: 1 }),
    };
  }
}

async function* ndjsonLines(pages: AsyncIterable<AuditRow[]>, visible: (row: AuditRow) => boolean): AsyncGenerator<string> {
  for await (const rows of pages) {
    let chunk = '';
    for (const row of rows) {
      const entry = visible(row) ? toSealedEvent(row) : withheld(row);
      chunk += `${JSON.stringify(entry)}\n`;
    }
    yield chunk;
  }
}

async function* csvLines(pages: AsyncIterable<AuditRow[]>, visible: (row: AuditRow) => boolean): AsyncGenerator<string> {
  yield `${CSV_COLUMNS.join(',')}\r\n`;
  for await (const rows of pages) {
    let chunk = '';
    for (const row of rows.filter(visible)) {
      const event = toSealedEvent(row);
      const cells = [event.position, event.seq, event.occurredAt, event.tenantId, event.actor, event.action, event.subject, event.taskId, event.traceId, event.requestId, JSON.stringify(event.data), event.prevHash, event.hash];
      chunk += `${cells.map(csvCell).join(',')}\r\n`;
    }
    if (chunk) yield chunk;
  }
}

function withheld(row: AuditRow): WithheldEvent {
  const { position, prevHash, hash } = toSealedEvent(row);
  return { position, prevHash, hash, withheld: true };
}

/**
 * RFC 4180 quoting, and a leading apostrophe on text that a spreadsheet would run as a
 * formula (OWASP CSV injection): a client-chosen request id like `-A1` stays text. The
 * CSV is for reading; the NDJSON export is the verifiable record.
 */
function csvCell(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
