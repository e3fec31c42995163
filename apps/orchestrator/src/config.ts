import { CommonEnv, env, loadConfig } from '@atelier/contracts';
import { z } from 'zod';

export const OrchestratorEnv = CommonEnv.extend({
  PORT: env.port(8080),
  LISTEN_HOST: z.string().regex(/^[0-9a-fA-F.:]+$|^localhost$/, 'must be an IP address').default('0.0.0.0'),
  /** First admin key; minted (hashed) at start-up when set. */
  ATELIER_BOOTSTRAP_API_KEY: env.secret(24).optional(),
  RESULTS_CONCURRENCY: env.positiveInt(16, 1024),
  HTTP_BODY_LIMIT_BYTES: env.positiveInt(256 * 1024, 64 * 1024 * 1024),
  /** How often the audit sealer looks for committed, unsealed events (at most 1 s apart). */
  AUDIT_SEAL_INTERVAL_MS: env.positiveInt(500, 1_000),
  /** Events sealed per transaction; a backlog is drained batch after batch without waiting. */
  AUDIT_SEAL_BATCH_SIZE: env.positiveInt(5_000, 50_000),
});
export type OrchestratorConfig = z.infer<typeof OrchestratorEnv>;

export const ORCHESTRATOR_CONFIG = Symbol('ORCHESTRATOR_CONFIG');

export function loadOrchestratorConfig(source: NodeJS.ProcessEnv = process.env): OrchestratorConfig {
  return loadConfig(OrchestratorEnv, source);
}
