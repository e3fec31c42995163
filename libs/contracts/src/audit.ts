/** The audit event catalog (docs/audit.md): every decision and action the platform records. */
export const AUDIT_ACTIONS = [
  'task.submitted',
  'task.planned',
  'step.queued',
  'step.started',
  'step.completed',
  'step.failed',
  'step.dead_lettered',
  'step.replayed',
  'llm.call',
  'llm.cache_hit',
  'budget.denied',
  'budget.alert',
  'guardrail.flagged',
  'task.completed',
  'task.failed',
  'task.cancelled',
  'apikey.created',
  'apikey.revoked',
  'budget.updated',
  'access.denied',
  /** A message no step could be found for (bad schema or unknown step): terminated, never redelivered. */
  'message.rejected',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** How much of prompts, outputs and goals the trail keeps besides their SHA-256 (docs/audit.md). */
export const AUDIT_CAPTURE_MODES = ['none', 'redacted', 'full'] as const;
export type AuditCaptureMode = (typeof AUDIT_CAPTURE_MODES)[number];
