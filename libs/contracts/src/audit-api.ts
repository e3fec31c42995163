import { z } from 'zod';
import { AUDIT_ACTIONS } from './audit';
import { parseHeadAnchor } from './audit-chain';

// Query strings of the audit API. Unknown parameters are rejected (`strict`) so a typo
// like `?actoin=` is a 400 naming it, not a silently unfiltered answer.

const timestamp = (field: string) =>
  z.iso.datetime({ offset: true, message: `must be an ISO-8601 timestamp, e.g. 2026-11-23T10:00:00Z (${field})` });
const position = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const limit = (fallback: number, max: number) => z.coerce.number().int().min(1).max(max).default(fallback);
const cursor = z.string().max(200).optional();

export const ListAuditQuery = z
  .object({
    task: z.uuid({ message: 'must be a task id (UUID)' }).optional(),
    action: z.enum(AUDIT_ACTIONS).optional(),
    actor: z
      .string()
      .regex(/^(?:(?:apikey|service):[A-Za-z0-9._-]{1,100}|anonymous)$/, 'must look like apikey:<id>, service:<name> or anonymous')
      .optional(),
    from: timestamp('from, inclusive').optional(),
    to: timestamp('to, exclusive').optional(),
    limit: limit(50, 500),
    cursor,
  })
  .strict()
  .refine((query) => !query.from || !query.to || Date.parse(query.from) < Date.parse(query.to), {
    message: 'must be after from',
    path: ['to'],
  });
export type ListAuditQuery = z.infer<typeof ListAuditQuery>;

export const TaskAuditQuery = z.object({ limit: limit(200, 1000), cursor }).strict();
export type TaskAuditQuery = z.infer<typeof TaskAuditQuery>;

/** Export and verify work on chain positions, the order the chain fixes. */
const positionRange = { from: position.optional(), to: position.optional() };
const rangeInOrder: [(query: { from?: number; to?: number }) => boolean, { message: string; path: string[] }] = [
  (query) => query.from === undefined || query.to === undefined || query.from <= query.to,
  { message: 'must not be before from', path: ['to'] },
];

export const ExportAuditQuery = z
  .object({ ...positionRange, format: z.enum(['ndjson', 'csv']).default('ndjson') })
  .strict()
  .refine(...rangeInOrder);
export type ExportAuditQuery = z.infer<typeof ExportAuditQuery>;

export const VerifyAuditQuery = z
  .object({
    ...positionRange,
    head: z
      .string()
      .optional()
      .refine((value) => value === undefined || parseHeadAnchor(value) !== undefined, {
        message: 'must be a hash (64 hex characters) or POSITION:HASH from GET /v1/audit/head',
      }),
  })
  .strict()
  .refine(...rangeInOrder)
  .refine((query) => query.head === undefined || query.to === undefined, {
    message: 'cannot be combined with head: a head is checked against the chain as it is now, to its end',
    path: ['to'],
  });
export type VerifyAuditQuery = z.infer<typeof VerifyAuditQuery>;

export const AuditSeqParam = z
  .string()
  .regex(/^[1-9]\d{0,14}$/, 'must be an event seq (a positive integer)')
  .transform(Number);
