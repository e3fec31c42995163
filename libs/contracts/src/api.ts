import { z } from 'zod';

// Request bodies of the public API. Unknown fields are rejected (`strict`), so a typo
// is a 400 naming the field instead of a silently ignored option.

export const MAX_GOAL_LENGTH = 20_000;
export const WORKFLOWS = ['research-report'] as const;
export type WorkflowName = (typeof WORKFLOWS)[number];

export const SCOPES = ['tasks:write', 'tasks:read', 'audit:read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

const decimalUsd = z
  .union([z.string(), z.number()])
  .transform((value) => String(value).trim())
  .refine((value) => /^\d{1,12}(\.\d{1,12})?$/.test(value) && Number(value) > 0, {
    message: 'must be a positive decimal amount in USD, e.g. "2.50"',
  });

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
    budgetUsd: decimalUsd.optional(),
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
    tenant: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes (max 63)'),
    scopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length),
    name: z.string().trim().min(1).max(100).optional(),
  })
  .strict();
export type CreateApiKeyRequest = z.infer<typeof CreateApiKeyRequest>;

export const TaskIdParam = z.uuid({ message: 'must be a task id (UUID)' });
