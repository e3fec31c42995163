import { BUDGET_PERIODS, CommonEnv, env, loadConfig } from '@atelier/contracts';
import { z } from 'zod';

const budgetUsd = z.string().regex(/^\d{1,12}(\.\d{1,12})?$/, 'must be a decimal amount in USD, e.g. "25.00"');

export const OrchestratorEnv = CommonEnv.extend({
  PORT: env.port(8080),
  LISTEN_HOST: z.string().regex(/^[0-9a-fA-F.:]+$|^localhost$/, 'must be an IP address').default('0.0.0.0'),
  /** First admin key; minted (hashed) at start-up when set. */
  ATELIER_BOOTSTRAP_API_KEY: env.secret(24).optional(),
  RESULTS_CONCURRENCY: env.positiveInt(16, 1024),
  HTTP_BODY_LIMIT_BYTES: env.positiveInt(256 * 1024, 64 * 1024 * 1024),
  /** A global spend cap, seeded at start-up when none exists (PUT /v1/budgets changes it afterwards). */
  ATELIER_GLOBAL_BUDGET_USD: budgetUsd.optional(),
  ATELIER_GLOBAL_BUDGET_PERIOD: z.enum(BUDGET_PERIODS).default('month'),
  /** Every tenant without a tenant budget gets this one at its first task. */
  ATELIER_DEFAULT_TENANT_BUDGET_USD: budgetUsd.optional(),
  ATELIER_DEFAULT_TENANT_BUDGET_PERIOD: z.enum(BUDGET_PERIODS).default('day'),
  /** How often expired spend reservations are swept, budget alerts sent and expired cached responses purged. */
  SPEND_SWEEP_INTERVAL_MS: env.positiveInt(5_000, 3_600_000),
  /** Budget alerts are POSTed here (JSON, signed with ATELIER_ALERT_WEBHOOK_SECRET). */
  ATELIER_ALERT_WEBHOOK_URL: env.url(['http', 'https']).optional(),
  ATELIER_ALERT_WEBHOOK_SECRET: env.secret(16).optional(),
  ATELIER_ALERT_WEBHOOK_TIMEOUT_MS: env.positiveInt(5_000, 60_000),
  ATELIER_ALERT_WEBHOOK_MAX_ATTEMPTS: env.positiveInt(10, 100),
  /** How often the audit sealer looks for committed, unsealed events (at most 1 s apart). */
  AUDIT_SEAL_INTERVAL_MS: env.positiveInt(500, 1_000),
  /** Events sealed per transaction; a backlog is drained batch after batch without waiting. */
  AUDIT_SEAL_BATCH_SIZE: env.positiveInt(5_000, 50_000),

  /** How often the relay publishes steps left unpublished; also how old such a step must be. */
  RELAY_INTERVAL_MS: env.intRange(5_000, 100, 600_000),
  /** How often tasks past their deadline are ended as timed_out. */
  DEADLINE_CHECK_INTERVAL_MS: env.intRange(1_000, 100, 60_000),
});
export type OrchestratorConfig = z.infer<typeof OrchestratorEnv>;

export const ORCHESTRATOR_CONFIG = Symbol('ORCHESTRATOR_CONFIG');

export function loadOrchestratorConfig(source: NodeJS.ProcessEnv = process.env): OrchestratorConfig {
  return loadConfig(
    OrchestratorEnv.superRefine((value, ctx) => {
      if (value.ATELIER_ALERT_WEBHOOK_URL && !value.ATELIER_ALERT_WEBHOOK_SECRET) {
        ctx.addIssue({ code: 'custom', path: ['ATELIER_ALERT_WEBHOOK_SECRET'], message: 'is required with ATELIER_ALERT_WEBHOOK_URL (alerts are signed)' });
      }
    }),
    source,
  );
}
