import { z } from 'zod';
import type { BulkheadSettings } from './call-bulkhead';
import type { CircuitBreakerSettings } from './circuit-breaker-registry';
import { LLM_ERROR_KINDS, type LlmErrorKind } from './llm-error-classification';
import type { CallPolicySettings } from './llm-call-policy';

/** What a step kind may change about its calls; anything left out takes the process defaults. */
export interface StepCallPolicy {
  /** Models after the routed one, in order (e.g. the writer's strong model → a cheaper one). */
  readonly fallbacks?: readonly string[];
  readonly attemptTimeoutMs?: number;
  readonly totalTimeoutMs?: number;
  readonly maxAttempts?: number;
  readonly fallbackOn?: readonly LlmErrorKind[];
}

/** Process-wide policy: the defaults of every call plus the shared bulkhead and breakers. */
export interface LlmPolicySettings {
  readonly bulkhead: BulkheadSettings;
  readonly breaker: CircuitBreakerSettings;
  readonly call: Omit<CallPolicySettings, 'models'>;
  /** Per step kind, keyed by kind (`writer.draft`, ...). */
  readonly steps: Readonly<Record<string, StepCallPolicy>>;
}

export const DEFAULT_FALLBACK_ON: readonly LlmErrorKind[] = ['overloaded', 'circuit_open'];

const DEFAULT_FAILURE_RATE = { threshold: 0.5, windowMs: 60_000, minimumCalls: 10 };

export const DEFAULT_LLM_POLICY: LlmPolicySettings = {
  bulkhead: { maxConcurrent: 8, maxQueued: 100 },
  breaker: { consecutiveFailures: 5, failureRate: DEFAULT_FAILURE_RATE, halfOpenAfterMs: 30_000 },
  call: {
    attemptTimeoutMs: 120_000,
    totalTimeoutMs: 300_000,
    retry: { maxAttempts: 3, initialDelayMs: 500, maxDelayMs: 20_000 },
    fallbackOn: DEFAULT_FALLBACK_ON,
  },
  steps: {},
};

/** The settings of one call: the routed model first, then the kind's fallbacks (without repeats). */
export function resolveCallPolicy(policy: LlmPolicySettings, kind: string, routedModel: string): CallPolicySettings {
  const step = policy.steps[kind] ?? {};
  const models = [routedModel, ...(step.fallbacks ?? [])].filter((model, index, all) => all.indexOf(model) === index);
  return {
    models,
    attemptTimeoutMs: step.attemptTimeoutMs ?? policy.call.attemptTimeoutMs,
    totalTimeoutMs: step.totalTimeoutMs ?? policy.call.totalTimeoutMs,
    retry: { ...policy.call.retry, ...(step.maxAttempts !== undefined ? { maxAttempts: step.maxAttempts } : {}) },
    fallbackOn: step.fallbackOn ?? policy.call.fallbackOn,
  };
}

const positiveInt = (fallback: number, max: number) => z.coerce.number().int().min(1).max(max).default(fallback);

const StepCallPolicySchema = z
  .object({
    fallbacks: z.array(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,99}$/, 'must be a model id')).max(5).optional(),
    attemptTimeoutMs: z.number().int().min(1).max(3_600_000).optional(),
    totalTimeoutMs: z.number().int().min(1).max(3_600_000).optional(),
    maxAttempts: z.number().int().min(1).max(10).optional(),
    fallbackOn: z.array(z.enum(LLM_ERROR_KINDS as [LlmErrorKind, ...LlmErrorKind[]])).optional(),
  })
  .strict();

/**
 * `LLM_STEP_POLICIES`: JSON, step kind → StepCallPolicy. `knownKinds` refuses a typo'd
 * kind, which would otherwise be ignored silently.
 */
function stepPolicies(knownKinds?: readonly string[]) {
  return z
    .string()
    .optional()
    .transform((text, ctx): Record<string, StepCallPolicy> => {
      if (text === undefined) return {};
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON: {"<step kind>": {"fallbacks": ["<model>"], "attemptTimeoutMs": 60000}}' });
        return z.NEVER;
      }
      const parsed = z.record(z.string(), StepCallPolicySchema).safeParse(json);
      if (!parsed.success) {
        const [issue] = parsed.error.issues;
        ctx.addIssue({ code: 'custom', message: `${issue?.path.join('.') || '(root)'}: ${issue?.message}` });
        return z.NEVER;
      }
      const unknown = knownKinds ? Object.keys(parsed.data).filter((kind) => !knownKinds.includes(kind)) : [];
      if (unknown.length > 0) {
        ctx.addIssue({ code: 'custom', message: `names unknown step kinds ${unknown.join(', ')} (known: ${knownKinds?.join(', ')})` });
        return z.NEVER;
      }
      return parsed.data;
    });
}

/**
 * The environment variables of the LLM policies, as a zod shape to extend a service's
 * config schema with (validated at boot with the rest: one line per bad variable).
 */
export function llmPolicyEnv(knownKinds?: readonly string[]) {
  const defaults = DEFAULT_LLM_POLICY;
  return {
    LLM_MAX_CONCURRENT_CALLS: positiveInt(defaults.bulkhead.maxConcurrent, 1024),
    LLM_MAX_QUEUED_CALLS: z.coerce.number().int().min(0).max(100_000).default(defaults.bulkhead.maxQueued),
    LLM_RETRY_MAX_ATTEMPTS: positiveInt(defaults.call.retry.maxAttempts, 10),
    LLM_CALL_BUDGET_MS: positiveInt(defaults.call.totalTimeoutMs, 3_600_000),
    LLM_BREAKER_FAILURES: positiveInt(defaults.breaker.consecutiveFailures, 1000),
    LLM_BREAKER_FAILURE_RATE: z.coerce
      .number()
      .gt(0, 'must be between 0 and 1 (exclusive)')
      .lt(1, 'must be between 0 and 1 (exclusive)')
      .default(DEFAULT_FAILURE_RATE.threshold),
    LLM_BREAKER_HALF_OPEN_MS: positiveInt(defaults.breaker.halfOpenAfterMs, 3_600_000),
    LLM_STEP_POLICIES: stepPolicies(knownKinds),
  };
}

export type LlmPolicyEnv = z.infer<z.ZodObject<ReturnType<typeof llmPolicyEnv>>>;

/** The process policy from validated variables; `attemptTimeoutMs` comes from the service's own per-call timeout. */
export function llmPolicyFromEnv(env: LlmPolicyEnv, attemptTimeoutMs = DEFAULT_LLM_POLICY.call.attemptTimeoutMs): LlmPolicySettings {
  const defaults = DEFAULT_LLM_POLICY;
  return {
    bulkhead: { maxConcurrent: env.LLM_MAX_CONCURRENT_CALLS, maxQueued: env.LLM_MAX_QUEUED_CALLS },
    breaker: {
      ...defaults.breaker,
      consecutiveFailures: env.LLM_BREAKER_FAILURES,
      failureRate: { ...DEFAULT_FAILURE_RATE, threshold: env.LLM_BREAKER_FAILURE_RATE },
      halfOpenAfterMs: env.LLM_BREAKER_HALF_OPEN_MS,
    },
    call: {
      ...defaults.call,
      attemptTimeoutMs,
      totalTimeoutMs: env.LLM_CALL_BUDGET_MS,
      retry: { ...defaults.call.retry, maxAttempts: env.LLM_RETRY_MAX_ATTEMPTS },
    },
    steps: env.LLM_STEP_POLICIES,
  };
}
