import { STEP_KINDS, type StepKind } from '@atelier/contracts';
import type { LlmPolicySettings, StepCallPolicy } from '@atelier/resilience';
import type { Pricing } from './pricing';

/**
 * How each step kind's model calls are run, on top of the process defaults: a fallback
 * when the routed model is overloaded or its breaker is open (the strong model → the
 * cheap one: a plainer answer beats no answer), and a time limit per attempt sized to
 * the kind's `max_tokens` (a plan is short; a draft is the longest answer we ask for).
 */
export const DEFAULT_STEP_CALL_POLICIES: Readonly<Record<StepKind, StepCallPolicy>> = {
  'research.plan': { attemptTimeoutMs: 60_000 },
  'research.investigate': { fallbacks: ['claude-haiku-5-5'], attemptTimeoutMs: 90_000 },
  'writer.draft': { fallbacks: ['claude-haiku-5-5'], attemptTimeoutMs: 120_000 },
  'writer.review': { attemptTimeoutMs: 60_000 },
};

/**
 * The process policy with every step kind's defaults under its `LLM_STEP_POLICIES`
 * overrides. `maxAttemptTimeoutMs` (the SDK's own timeout) caps every attempt, so a
 * smaller `LLM_TIMEOUT_MS` shortens all of them. Throws a `config:` line when an
 * override names an unpriced fallback or an attempt longer than that cap.
 */
export function withStepCallPolicies(policy: LlmPolicySettings, pricing: Pricing, maxAttemptTimeoutMs: number): LlmPolicySettings {
  const overridden = new Set(Object.keys(policy.steps));
  const steps: Record<string, StepCallPolicy> = {};
  for (const kind of STEP_KINDS) {
    const step = { ...DEFAULT_STEP_CALL_POLICIES[kind], ...policy.steps[kind] };
    const unpriced = (step.fallbacks ?? []).filter((model) => !pricing.models().includes(model));
    if (unpriced.length > 0) throw new Error(`config: LLM_STEP_POLICIES gives ${kind} the fallback ${unpriced.join(', ')}, which has no price (add it to LLM_PRICING_OVERRIDES)`);
    const attemptTimeoutMs = step.attemptTimeoutMs ?? maxAttemptTimeoutMs;
    if (attemptTimeoutMs > maxAttemptTimeoutMs && overridden.has(kind) && policy.steps[kind]?.attemptTimeoutMs !== undefined) {
      throw new Error(`config: LLM_STEP_POLICIES gives ${kind} attemptTimeoutMs ${attemptTimeoutMs}, above LLM_TIMEOUT_MS (${maxAttemptTimeoutMs})`);
    }
    steps[kind] = { ...step, attemptTimeoutMs: Math.min(attemptTimeoutMs, maxAttemptTimeoutMs) };
  }
  return { ...policy, steps };
}
