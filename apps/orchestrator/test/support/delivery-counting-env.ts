/**
 * Agent settings for specs that count step deliveries: one model attempt per delivery
 * (the call policy's own retries are the subject of llm-resilience.e2e-spec.ts), and
 * breakers that never open, since these specs fail the simulator on purpose many times
 * over and an open breaker would pause the agent they are watching.
 */
export const DELIVERY_COUNTING_AGENT_ENV = {
  LLM_RETRY_MAX_ATTEMPTS: '1',
  LLM_BREAKER_FAILURES: '1000',
  LLM_BREAKER_FAILURE_RATE: '0.99',
} as const;
