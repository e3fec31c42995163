import { type DynamicModule, Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { CircuitBreakerRegistry } from './circuit-breaker-registry';
import type { LlmPolicySettings } from './call-policy-settings';
import { LlmCallPolicy } from './llm-call-policy';

export const LLM_POLICY_SETTINGS = Symbol('LLM_POLICY_SETTINGS');

@Injectable()
class BreakerTimers implements OnApplicationShutdown {
  constructor(private readonly breakers: CircuitBreakerRegistry) {}

  onApplicationShutdown(): void {
    this.breakers.dispose();
  }
}

/**
 * Thin Nest adapter: one `CircuitBreakerRegistry` and one `LlmCallPolicy` per process
 * (the bulkhead and the breakers must be shared to mean anything), injectable by class;
 * the settings under `LLM_POLICY_SETTINGS` for `resolveCallPolicy`.
 */
@Global()
@Module({})
export class ResilienceModule {
  static forRoot(settings: LlmPolicySettings): DynamicModule {
    return {
      module: ResilienceModule,
      providers: [
        { provide: LLM_POLICY_SETTINGS, useValue: settings },
        { provide: CircuitBreakerRegistry, useFactory: () => new CircuitBreakerRegistry(settings.breaker) },
        {
          provide: LlmCallPolicy,
          useFactory: (breakers: CircuitBreakerRegistry) => new LlmCallPolicy({ bulkhead: settings.bulkhead, breakers }),
          inject: [CircuitBreakerRegistry],
        },
        BreakerTimers,
      ],
      exports: [LLM_POLICY_SETTINGS, CircuitBreakerRegistry, LlmCallPolicy],
    };
  }
}

/** Injects the process's LlmPolicySettings. */
export const InjectLlmPolicySettings = () => Inject(LLM_POLICY_SETTINGS);
