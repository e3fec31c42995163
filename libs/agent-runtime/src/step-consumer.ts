import { type BeforeApplicationShutdown, Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { agentConsumer, type StepKind } from '@atelier/contracts';
import { type ConsumerHandle, JetStreamClient } from '@atelier/messaging';
import { bindLlmPolicyMetrics, LOGGER, type Logger, METRICS_CATALOG, type MetricsCatalog } from '@atelier/observability';
import { CircuitGate, type IDisposable, InjectLlmPolicySettings, LlmCallPolicy, type LlmPolicySettings, resolveCallPolicy } from '@atelier/resilience';
import type { AgentConfig } from './agent-config';
import type { AgentDefinition } from './agent-definition';
import { StepExecutor } from './step-executor';
import { AGENT_CONFIG, AGENT_DEFINITION } from './tokens';

/**
 * Pulls the agent's steps with bounded concurrency; also the `consumer` readiness check.
 * While every model its steps could use has an open circuit breaker, it stops pulling
 * (a step taken now would only fail and burn an attempt) and resumes when one half-opens.
 */
@Injectable()
export class StepConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly name = 'consumer';
  private handle?: ConsumerHandle;
  private readonly subscriptions: IDisposable[] = [];

  constructor(
    @Inject(AGENT_DEFINITION) private readonly definition: AgentDefinition,
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
    private readonly executor: StepExecutor,
    private readonly nats: JetStreamClient,
    private readonly policy: LlmCallPolicy,
    @InjectLlmPolicySettings() private readonly policySettings: LlmPolicySettings,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_CATALOG) private readonly metrics: MetricsCatalog,
  ) {}

  onApplicationBootstrap(): void {
    const spec = agentConsumer(this.definition.agent, this.config.STEP_ACK_WAIT_MS);
    this.handle = this.nats.startConsumer({
      stream: spec.stream,
      durable: spec.durable,
      concurrency: this.config.AGENT_CONCURRENCY,
      // The loop aborts the signal when shutdown's grace period is over: model calls stop, steps are handed back.
      handler: (message, shutdown) => this.executor.execute(message, shutdown),
    });
    this.logger.info({ stream: spec.stream, consumer: spec.durable, concurrency: this.config.AGENT_CONCURRENCY }, 'consuming steps');

    // The fallback chain of every step kind this agent runs: the consumer pauses only when all of them are blocked.
    const chains = (Object.keys(this.definition.handlers) as StepKind[]).map(
      (kind) => resolveCallPolicy(this.policySettings, kind, this.config.routes(kind).model).models,
    );
    const gate = new CircuitGate(this.policy.breakers, chains, this.handle);
    this.subscriptions.push(
      gate,
      gate.onChange(({ paused, openModels }) =>
        paused
          ? this.logger.warn({ openModels }, 'every model these steps can use has an open circuit breaker; stopped pulling steps')
          : this.logger.info({ openModels }, 'a model is available again; pulling steps'),
      ),
      bindLlmPolicyMetrics(this.policy, this.metrics, [...new Set(chains.flat())]),
    );
  }

  /** SIGTERM: stop pulling, let in-flight steps finish within the grace period, then abort them: each hands its step back. */
  async beforeApplicationShutdown(): Promise<void> {
    this.subscriptions.forEach((subscription) => subscription.dispose());
    await this.handle?.stop(this.config.SHUTDOWN_GRACE_MS);
  }

  async isReady(): Promise<void> {
    if (!this.handle?.running) throw new Error('step consumer is not running');
  }
}
