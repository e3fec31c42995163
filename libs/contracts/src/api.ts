import { z } from 'zod';

// Request bodies of the public API. Unknown fields are rejected (`strict`), so a typo
// is a 400 naming the field instead of a silently ignored option.

export const MAX_GOAL_LENGTH = 20_000;
export const WORKFLOWS = ['research-report', 'brief'] as const;
export type WorkflowName = (typeof WORKFLOWS)[number];

export const SCOPES = ['tasks:write', 'tasks:read', 'audit:read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** numeric(24,12), the column money is kept in: at most 12 digits before the point and 12 after. */
const USD_DIGITS = /^\d{1,12}(\.\d{1,12})?$/;
/** A double carries every decimal of up to 15 significant digits exactly; longer ones it may change. */
const EXACT_DOUBLE_DIGITS = 15;

/**
 * A USD amount (money is never a float): a decimal string of up to 12 digits each side of
 * the point. A JSON number is taken only when it is certainly the amount the client
 * wrote (at most 15 significant digits, as a double keeps them) and fits the column;
 * anything else is refused, never rounded.
 */
const decimalUsd = (options: { allowZero: boolean }) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const text = typeof value === 'number' ? exactDecimalOf(value) : value.trim();
    if (text === undefined) {
      ctx.addIssue({ code: 'custom', message: `must be sent as a decimal string: the JSON number ${String(value)} cannot be carried exactly (more than ${EXACT_DOUBLE_DIGITS} significant digits)` });
      return z.NEVER;
    }
    if (!USD_DIGITS.test(text) || (!options.allowZero && !/[1-9]/.test(text))) {
      ctx.addIssue({
        code: 'custom',
        message: options.allowZero
          ? 'must be a decimal amount in USD with at most 12 digits before and 12 after the point, e.g. "2.50" (0 blocks all spend)'
          : 'must be a positive decimal amount in USD with at most 12 digits before and 12 after the point, e.g. "2.50"',
      });
      return z.NEVER;
    }
    return text;
  });

/** The decimal a finite number certainly stands for (plain notation), or undefined when a double may have changed it. */
function exactDecimalOf(value: number): string | undefined {
  if (!Number.isFinite(value)) return undefined;
  const shortest = String(value);
  if (/e/i.test(shortest)) return value === 0 ? '0' : undefined;
  return shortest.replace(/[-.]/g, '').replace(/^0+/, '').length <= EXACT_DOUBLE_DIGITS ? shortest : undefined;
}

const TenantName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes (max 63)');

export const SubmitTaskRequest = z
  .object({
    workflow: z.enum(WORKFLOWS).default('research-report'),
    input: z
      .object({
        goal: z
          .string()
          .trim()
          .min(1, 'must not be empty')
          .max(MAX_GOAL_LENGTH, `must be at most ${MAX_GOAL_LENGTH} characters`),
      })
      .strict(),
    budgetUsd: decimalUsd({ allowZero: false }).optional(),
    /** false: never answer this task's model calls from the response cache, nor store its answers there. */
    responseCache: z.boolean().optional(),
    deadlineSeconds: z.number().int().min(1).max(7 * 24 * 3600).optional(),
    metadata: z
      .record(z.string().max(64), z.union([z.string().max(256), z.number(), z.boolean()]))
      .refine((value) => Object.keys(value).length <= 32, { message: 'at most 32 keys' })
      .optional(),
  })
  .strict();
export type SubmitTaskRequest = z.infer<typeof SubmitTaskRequest>;

export const ListTasksQuery = z
  .object({
    status: z.enum(['queued', 'running', 'completed', 'failed', 'cancelled', 'budget_exceeded', 'timed_out']).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(200).optional(),
  })
  .strict();
export type ListTasksQuery = z.infer<typeof ListTasksQuery>;

export const CreateApiKeyRequest = z
  .object({
    tenant: TenantName,
    scopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length),
    name: z.string().trim().min(1).max(100).optional(),
  })
  .strict();
export type CreateApiKeyRequest = z.infer<typeof CreateApiKeyRequest>;

export const TaskIdParam = z.uuid({ message: 'must be a task id (UUID)' });
export const ApiKeyIdParam = z.uuid({ message: 'must be an API key id (UUID)' });

export const BUDGET_SCOPES = ['global', 'tenant', 'task'] as const;
export const BUDGET_PERIODS = ['total', 'day', 'month'] as const;
export const DEFAULT_ALERT_THRESHOLDS = [50, 80, 100] as const;

/** `PUT /v1/budgets`: creates or replaces the budget of one scope and period. */
export const PutBudgetRequest = z
  .object({
    scope: z.enum(BUDGET_SCOPES),
    /** Required for `tenant` budgets, refused otherwise. */
    tenant: TenantName.optional(),
    /** Required for `task` budgets, refused otherwise. */
    taskId: z.uuid({ message: 'must be a task id (UUID)' }).optional(),
    /** UTC windows: `day` and `month` start again at 00:00 UTC; `total` never does. Task budgets are `total`. */
    period: z.enum(BUDGET_PERIODS),
    limitUsd: decimalUsd({ allowZero: true }),
    /** Percentages of the limit that raise an alert, once per window. */
    alertThresholds: z
      .array(z.number().int().min(1).max(100))
      .max(10)
      .refine((values) => new Set(values).size === values.length, { message: 'must not repeat a threshold' })
      .optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    const needs = { tenant: body.scope === 'tenant', taskId: body.scope === 'task' };
    for (const field of ['tenant', 'taskId'] as const) {
      if (needs[field] && body[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `is required for a ${body.scope} budget` });
      if (!needs[field] && body[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `is not allowed for a ${body.scope} budget` });
    }
    if (body.scope === 'task' && body.period !== 'total') ctx.addIssue({ code: 'custom', path: ['period'], message: 'must be "total" for a task budget' });
  });
export type PutBudgetRequest = z.infer<typeof PutBudgetRequest>;

export const ListBudgetsQuery = z
  .object({
    scope: z.enum(BUDGET_SCOPES).optional(),
    /** Admin only: a tenant's budgets (its tenant and task budgets). */
    tenant: TenantName.optional(),
    taskId: z.uuid({ message: 'must be a task id (UUID)' }).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(50),
    /** The previous page's nextCursor: a budget id. */
    cursor: z.uuid({ message: 'is not a cursor returned by this API' }).optional(),
  })
  .strict();
export type ListBudgetsQuery = z.infer<typeof ListBudgetsQuery>;

/** `tenant` matters to admins (which tenant spends); a tenant sees only itself in it. */
export const USAGE_GROUPS = ['model', 'day', 'task', 'tenant'] as const;

/** Instants the API takes: ISO 8601, in the years the database and every client agree on. */
const EARLIEST_INSTANT = Date.UTC(1970, 0, 1);
const LATEST_INSTANT = Date.UTC(10000, 0, 1);
const isoInstant = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], { message: 'must be an ISO 8601 date or date-time' })
  .refine((value) => Date.parse(value) >= EARLIEST_INSTANT && Date.parse(value) < LATEST_INSTANT, { message: 'must be between 1970-01-01 and 9999-12-31 (UTC)' });

export const UsageQuery = z
  .object({
    groupBy: z.enum(USAGE_GROUPS).default('model'),
    /** Inclusive start (default: 30 days before `to`). */
    from: isoInstant.optional(),
    /** Exclusive end (default: now). */
    to: isoInstant.optional(),
    /** Admin only: one tenant's usage (default: all tenants). */
    tenant: TenantName.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict()
  .refine((query) => !query.from || !query.to || Date.parse(query.from) < Date.parse(query.to), { path: ['from'], message: 'must be before "to"' });
export type UsageQuery = z.infer<typeof UsageQuery>;

export const ListDeadLettersQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(200).optional(),
  })
  .strict();
export type ListDeadLettersQuery = z.infer<typeof ListDeadLettersQuery>;
