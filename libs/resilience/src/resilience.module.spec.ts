import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DEFAULT_LLM_POLICY } from './call-policy-settings';
import { CircuitBreakerRegistry } from './circuit-breaker-registry';
import { LlmCallPolicy } from './llm-call-policy';
import { LLM_POLICY_SETTINGS, ResilienceModule } from './resilience.module';
import { apiError } from './test/fake-api-error';

describe(ResilienceModule.name, () => {
  it('gives one shared policy and breaker registry, and stops the breakers’ timers on shutdown', async () => {
    @Module({ imports: [ResilienceModule.forRoot({ ...DEFAULT_LLM_POLICY, breaker: { consecutiveFailures: 1, halfOpenAfterMs: 60_000 } })] })
    class AppModule {}
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    const policy = app.get(LlmCallPolicy);
    expect(policy.breakers).toBe(app.get(CircuitBreakerRegistry));
    expect(app.get(LLM_POLICY_SETTINGS)).toMatchObject({ bulkhead: DEFAULT_LLM_POLICY.bulkhead });

    await app.get(CircuitBreakerRegistry).execute('m', () => Promise.reject(apiError(500)), new AbortController().signal).catch(() => undefined);
    expect(policy.breakers.state('m')).toBe('open');
    await app.close();
    expect(policy.breakers.states().size).toBe(0);
  });
});
