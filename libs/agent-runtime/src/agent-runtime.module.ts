import { type DynamicModule, Module } from '@nestjs/common';
import { agentConsumer, agentStream, STREAMS } from '@atelier/contracts';
import { JETSTREAM_STREAMS_CHECK, JetStreamClient, MessagingModule, natsConnectionFromEnv } from '@atelier/messaging';
import { ObservabilityModule, tracingFromEnv } from '@atelier/observability';
import { PersistenceModule, PrismaService, serviceClock, SpendLedger } from '@atelier/persistence';
import { ResilienceModule } from '@atelier/resilience';
import type { AgentConfig } from './agent-config';
import type { AgentDefinition } from './agent-definition';
import { LlmClient } from './llm-client';
import { ModelCaller } from './model-caller';
import { StepConsumer } from './step-consumer';
import { StepExecutor } from './step-executor';
import { StepResultPublisher } from './step-result-publisher';
import { StepStore } from './step-store';
import { TaskStopWatcher } from './task-stop-watcher';
import { AGENT_CONFIG, AGENT_DEFINITION } from './tokens';

@Module({})
export class AgentRuntimeModule {
  static forRoot(definition: AgentDefinition, config: AgentConfig): DynamicModule {
    return {
      module: AgentRuntimeModule,
      // Global so ObservabilityModule can inject StepConsumer as a readiness check.
      global: true,
      exports: [StepConsumer],
      imports: [
        ObservabilityModule.forRoot({
          service: `${definition.agent}-agent`,
          logLevel: config.LOG_LEVEL,
          readiness: [PrismaService, JetStreamClient, JETSTREAM_STREAMS_CHECK, StepConsumer],
          tracing: tracingFromEnv(`${definition.agent}-agent`, config),
        }),
        PersistenceModule.forRoot({ connectionString: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX, auditCapture: config.AUDIT_CAPTURE }),
        ResilienceModule.forRoot(config.llmPolicy),
        MessagingModule.forRoot({
          ...natsConnectionFromEnv(config, `${definition.agent}-agent`),
          // Idempotent: an agent can start before the orchestrator and still find its queue.
          streams: [agentStream(definition.agent), STREAMS.taskControl],
          consumers: [agentConsumer(definition.agent, config.STEP_ACK_WAIT_MS)],
          shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
        }),
      ],
      providers: [
        { provide: AGENT_DEFINITION, useValue: definition },
        { provide: AGENT_CONFIG, useValue: config },
        LlmClient,
        { provide: SpendLedger, useFactory: (prisma: PrismaService) => new SpendLedger(prisma.pool, serviceClock(config.ATELIER_TEST_CLOCK_FILE)), inject: [PrismaService] },
        StepStore,
        ModelCaller,
        StepResultPublisher,
        TaskStopWatcher,
        StepExecutor,
        StepConsumer,
      ],
    };
  }
}
