import { z } from 'zod';
import { DEFAULT_LLM_POLICY, llmPolicyEnv, llmPolicyFromEnv, resolveCallPolicy } from './call-policy-settings';

const KINDS = ['research.plan', 'research.investigate', 'writer.draft', 'writer.review'];
const schema = z.object(llmPolicyEnv(KINDS));

/** One line per bad variable, as the services' config loader words it. */
function problems(env: Record<string, string>): string[] {
  const parsed = schema.safeParse(env);
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${String(issue.path[0])} ${issue.message}`);
}

describe(resolveCallPolicy.name, () => {
  it('puts the routed model first, then the kind’s fallbacks, without repeats', () => {
    const policy = { ...DEFAULT_LLM_POLICY, steps: { 'writer.draft': { fallbacks: ['claude-sonnet-5-5', 'claude-haiku-5-5'], attemptTimeoutMs: 90_000 } } };
    expect(resolveCallPolicy(policy, 'writer.draft', 'claude-sonnet-5-5')).toEqual({
      models: ['claude-sonnet-5-5', 'claude-haiku-5-5'],
      attemptTimeoutMs: 90_000,
      totalTimeoutMs: DEFAULT_LLM_POLICY.call.totalTimeoutMs,
      retry: DEFAULT_LLM_POLICY.call.retry,
      fallbackOn: ['overloaded', 'circuit_open'],
    });
    expect(resolveCallPolicy(policy, 'research.plan', 'claude-haiku-5-5').models).toEqual(['claude-haiku-5-5']);
  });
});

describe(llmPolicyEnv.name, () => {
  it('gives the defaults when nothing is set', () => {
    expect(llmPolicyFromEnv(schema.parse({}), 120_000)).toEqual({ ...DEFAULT_LLM_POLICY, call: { ...DEFAULT_LLM_POLICY.call, attemptTimeoutMs: 120_000 } });
  });

  it('reads every variable and the per-kind JSON', () => {
    const env = schema.parse({
      LLM_MAX_CONCURRENT_CALLS: '4',
      LLM_MAX_QUEUED_CALLS: '0',
      LLM_RETRY_MAX_ATTEMPTS: '5',
      LLM_CALL_BUDGET_MS: '60000',
      LLM_BREAKER_FAILURES: '2',
      LLM_BREAKER_FAILURE_RATE: '0.25',
      LLM_BREAKER_HALF_OPEN_MS: '5000',
      LLM_STEP_POLICIES: '{"writer.draft":{"fallbacks":["claude-haiku-5-5"],"fallbackOn":["overloaded","circuit_open","timeout"]}}',
    });
    const policy = llmPolicyFromEnv(env, 45_000);
    expect(policy.bulkhead).toEqual({ maxConcurrent: 4, maxQueued: 0 });
    expect(policy.breaker).toMatchObject({ consecutiveFailures: 2, halfOpenAfterMs: 5_000, failureRate: { threshold: 0.25 } });
    expect(policy.call).toMatchObject({ attemptTimeoutMs: 45_000, totalTimeoutMs: 60_000, retry: { maxAttempts: 5 } });
    expect(resolveCallPolicy(policy, 'writer.draft', 'claude-sonnet-5-5')).toMatchObject({
      models: ['claude-sonnet-5-5', 'claude-haiku-5-5'],
      fallbackOn: ['overloaded', 'circuit_open', 'timeout'],
    });
  });

  it('names the variable and the problem on bad values', () => {
    expect(problems({ LLM_MAX_CONCURRENT_CALLS: '0' })).toEqual(['LLM_MAX_CONCURRENT_CALLS Too small: expected number to be >=1']);
    expect(problems({ LLM_BREAKER_FAILURE_RATE: '1' })).toEqual(['LLM_BREAKER_FAILURE_RATE must be between 0 and 1 (exclusive)']);
    expect(problems({ LLM_STEP_POLICIES: '{not json' })).toEqual([
      'LLM_STEP_POLICIES must be JSON: {"<step kind>": {"fallbacks": ["<model>"], "attemptTimeoutMs": 60000}}',
    ]);
    expect(problems({ LLM_STEP_POLICIES: '{"writer.draft":{"attemptTimeoutMs":"soon"}}' })).toEqual([
      'LLM_STEP_POLICIES writer.draft.attemptTimeoutMs: Invalid input: expected number, received string',
    ]);
    expect(problems({ LLM_STEP_POLICIES: '{"writer.draft":{"fallback":["claude-haiku-5-5"]}}' })).toEqual([
      'LLM_STEP_POLICIES writer.draft: Unrecognized key: "fallback"',
    ]);
    expect(problems({ LLM_STEP_POLICIES: '{"writer.drafts":{}}' })).toEqual([
      'LLM_STEP_POLICIES names unknown step kinds writer.drafts (known: research.plan, research.investigate, writer.draft, writer.review)',
    ]);
  });
});
