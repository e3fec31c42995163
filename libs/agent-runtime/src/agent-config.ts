import { CommonEnv, env, loadConfig } from '@atelier/contracts';
import { z } from 'zod';

export const AgentEnv = CommonEnv.extend({
  PORT: env.port(8081),
  LISTEN_HOST: z.string().regex(/^[0-9a-fA-F.:]+$|^localhost$/, 'must be an IP address').default('0.0.0.0'),
  ANTHROPIC_API_KEY: env.secret(8).optional(),
  ANTHROPIC_BASE_URL: env.url(['http', 'https']).optional(),
  /** `anthropic` needs ANTHROPIC_API_KEY; `simulator` talks to apps/llm-simulator. Default: by whether a key is set. */
  LLM_MODE: z.enum(['anthropic', 'simulator']).optional(),
  LLM_TIMEOUT_MS: env.positiveInt(120_000, 3_600_000),
  LLM_PRICING_OVERRIDES: z.string().optional(),
  AGENT_CONCURRENCY: env.positiveInt(8, 256),
});
export type AgentConfigInput = z.infer<typeof AgentEnv>;

export interface AgentConfig extends AgentConfigInput {
  LLM_MODE: 'anthropic' | 'simulator';
  ANTHROPIC_BASE_URL: string | undefined;
}

const SIMULATOR_URL = 'http://127.0.0.1:8090';

export function loadAgentConfig(source: NodeJS.ProcessEnv = process.env): AgentConfig {
  const config = loadConfig(
    AgentEnv.superRefine((value, ctx) => {
      if (value.LLM_MODE === 'anthropic' && !value.ANTHROPIC_API_KEY) {
        ctx.addIssue({ code: 'custom', path: ['ANTHROPIC_API_KEY'], message: 'is required when LLM_MODE=anthropic' });
      }
    }),
    source,
  );
  const mode = config.LLM_MODE ?? (config.ANTHROPIC_API_KEY ? 'anthropic' : 'simulator');
  return {
    ...config,
    LLM_MODE: mode,
    ANTHROPIC_BASE_URL: config.ANTHROPIC_BASE_URL ?? (mode === 'simulator' ? SIMULATOR_URL : undefined),
  };
}
