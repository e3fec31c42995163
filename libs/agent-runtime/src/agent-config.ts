import { CommonEnv, ConfigError, env, loadConfig, STEP_KINDS } from '@atelier/contracts';
import { loadModelRoutes, loadPricing, type ModelRoutes, type Pricing, PROMPT_COUNT_MODES, withStepCallPolicies } from '@atelier/llm';
import { llmPolicyEnv, llmPolicyFromEnv, type LlmPolicySettings } from '@atelier/resilience';
import { z } from 'zod';

export const AgentEnv = CommonEnv.extend({
  PORT: env.port(8081),
  LISTEN_HOST: z.string().regex(/^[0-9a-fA-F.:]+$|^localhost$/, 'must be an IP address').default('0.0.0.0'),
  ANTHROPIC_API_KEY: env.secret(8).optional(),
  ANTHROPIC_BASE_URL: env.url(['http', 'https']).optional(),
  /** `anthropic` needs ANTHROPIC_API_KEY; `simulator` talks to apps/llm-simulator. Default: by whether a key is set. */
  LLM_MODE: z.enum(['anthropic', 'simulator']).optional(),
  /** The longest one attempt of a model call may take (the SDK's timeout); each step kind's own limit is at most this. */
  LLM_TIMEOUT_MS: env.positiveInt(120_000, 3_600_000),
  LLM_PRICING_OVERRIDES: z.string().optional(),
  /** JSON: step kind → {model?, maxTokens?} on top of the default routes. */
  LLM_ROUTES: z.string().optional(),
  /**
   * Count prompt tokens with count_tokens before reserving: `on` always; `off` never (a
   * safe byte-based over-estimate, one round trip less); `auto` only when a count could
   * lower the reservation by more than 10 % (see shouldCountPrompt).
   */
  LLM_COUNT_TOKENS: z.enum(PROMPT_COUNT_MODES).default('auto'),
  /** Prompt caching of system prompts and shared context, at this TTL. */
  LLM_PROMPT_CACHE: z.enum(['off', '5m', '1h']).default('5m'),
  /** How long identical requests are answered from the response cache; 0 turns it off. */
  LLM_RESPONSE_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).max(30 * 24 * 3600).default(3600),
  /** After this the sweeper presumes a call's holder dead and bills its reservation; must exceed LLM_TIMEOUT_MS. Default: LLM_TIMEOUT_MS + 60 s. */
  SPEND_RESERVATION_TTL_MS: z.coerce.number().int().min(1_000).max(4 * 3_600_000).optional(),
  AGENT_CONCURRENCY: env.positiveInt(8, 256),
  /** Attempts a step gets (retryable failures and interrupted runs; not hand-backs on shutdown) before it is dead-lettered. */
  STEP_MAX_ATTEMPTS: env.intRange(5, 1, 100),
  /**
   * Delay before the next attempt after a retryable failure, by attempt; the last one
   * repeats. Short by default: the model call's own policies already retried within the
   * attempt, so an always-failing step is dead-lettered within seconds (4 back-offs, 3.75 s
   * in all), where a replay can pick it up once the cause is fixed.
   */
  STEP_RETRY_BACKOFF_MS: env.delayList([250, 500, 1_000, 2_000]),
  // Retry, circuit breaker, bulkhead, time budget and per-kind fallbacks of model calls (libs/resilience).
  ...llmPolicyEnv(STEP_KINDS),
});
export type AgentConfigInput = z.infer<typeof AgentEnv>;

export interface AgentConfig extends AgentConfigInput {
  LLM_MODE: 'anthropic' | 'simulator';
  ANTHROPIC_BASE_URL: string | undefined;
  SPEND_RESERVATION_TTL_MS: number;
  /** The price table with LLM_PRICING_OVERRIDES applied (validated at boot). */
  pricing: Pricing;
  /** Model and max_tokens per step kind with LLM_ROUTES applied (validated at boot). */
  routes: ModelRoutes;
  /** How model calls are retried, timed, limited and fallen back, per step kind (validated at boot). */
  llmPolicy: LlmPolicySettings;
}

const SIMULATOR_URL = 'http://127.0.0.1:8090';
const RESERVATION_TTL_MARGIN_MS = 60_000;

export function loadAgentConfig(source: NodeJS.ProcessEnv = process.env): AgentConfig {
  const config = loadConfig(
    AgentEnv.superRefine((value, ctx) => {
      if (value.LLM_MODE === 'anthropic' && !value.ANTHROPIC_API_KEY) {
        ctx.addIssue({ code: 'custom', path: ['ANTHROPIC_API_KEY'], message: 'is required when LLM_MODE=anthropic' });
      }
      if (value.SPEND_RESERVATION_TTL_MS !== undefined && value.SPEND_RESERVATION_TTL_MS <= value.LLM_TIMEOUT_MS) {
        ctx.addIssue({ code: 'custom', path: ['SPEND_RESERVATION_TTL_MS'], message: 'must exceed LLM_TIMEOUT_MS, or live calls would be billed as lost' });
      }
    }),
    source,
  );
  let pricing: Pricing;
  let routes: ModelRoutes;
  let llmPolicy: LlmPolicySettings;
  try {
    pricing = loadPricing(config.LLM_PRICING_OVERRIDES);
    routes = loadModelRoutes(pricing, config.LLM_ROUTES);
    llmPolicy = withStepCallPolicies(llmPolicyFromEnv(config, config.LLM_TIMEOUT_MS), pricing, config.LLM_TIMEOUT_MS);
  } catch (error) {
    throw new ConfigError([(error as Error).message]);
  }
  const mode = config.LLM_MODE ?? (config.ANTHROPIC_API_KEY ? 'anthropic' : 'simulator');
  return {
    ...config,
    LLM_MODE: mode,
    ANTHROPIC_BASE_URL: config.ANTHROPIC_BASE_URL ?? (mode === 'simulator' ? SIMULATOR_URL : undefined),
    SPEND_RESERVATION_TTL_MS: config.SPEND_RESERVATION_TTL_MS ?? config.LLM_TIMEOUT_MS + RESERVATION_TTL_MARGIN_MS,
    pricing,
    routes,
    // Unless set, as many model calls may run at once as steps do: the bulkhead then
    // only bites where an operator chose a lower number than AGENT_CONCURRENCY.
    llmPolicy: source.LLM_MAX_CONCURRENT_CALLS === undefined ? { ...llmPolicy, bulkhead: { ...llmPolicy.bulkhead, maxConcurrent: config.AGENT_CONCURRENCY } } : llmPolicy,
  };
}
