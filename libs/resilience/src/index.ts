// Framework-free core: classification, errors, the policies and their composition.
export * from './llm-error-classification';
export * from './resilience-errors';
export { describeFailure } from './failure-description';
export { type Event, type IDisposable } from './resilience-event';
export { linkSignals } from './abort-signals';
export * from './retry-policy';
export { withAttemptTimeout } from './attempt-timeout';
export * from './call-bulkhead';
export * from './circuit-breaker-registry';
export * from './circuit-gate';
export * from './llm-call-policy';
export * from './call-policy-settings';
// Thin Nest adapter.
export { InjectLlmPolicySettings, LLM_POLICY_SETTINGS, ResilienceModule } from './resilience.module';
