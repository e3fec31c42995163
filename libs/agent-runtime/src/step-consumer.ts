import { type BeforeApplicationShutdown, Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { agentConsumer } from '@atelier/contracts';
import { type ConsumerHandle, JetStreamClient } from '@atelier/messaging';
import { LOGGER, type Logger } from '@atelier/observability';
import type { AgentConfig } from './agent-config';
import type { AgentDefinition } from './agent-definition';
import { StepExecutor } from './step-executor';
import { AGENT_CONFIG, AGENT_DEFINITION } from './tokens';

/** Pulls the agent's steps with bounded concurrency; also the `consumer` readiness check. */
@Injectable()
export class StepConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly name = 'consumer';
  private handle?: ConsumerHandle;

  constructor(
    @Inject(AGENT_DEFINITION) private readonly definition: AgentDefinition,
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
    private readonly executor: StepExecutor,
    private readonly nats: JetStreamClient,
    @Inject(LOGGER) private readonly logger: Logger,
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
  }

  /** SIGTERM: stop pulling, let in-flight steps finish within the grace period, then abort them: each hands its step back. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.handle?.stop(this.config.SHUTDOWN_GRACE_MS);
  }

  async isReady(): Promise<void> {
    if (!this.handle?.running) throw new Error('step consumer is not running');
  }
}
