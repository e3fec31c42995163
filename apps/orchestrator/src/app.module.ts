import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { allConsumers, STREAMS } from '@atelier/contracts';
import { JETSTREAM_STREAMS_CHECK, JetStreamClient, MessagingModule, natsConnectionFromEnv } from '@atelier/messaging';
import { ObservabilityModule, tracingFromEnv } from '@atelier/observability';
import { PersistenceModule, PrismaService } from '@atelier/persistence';
import { ApiKeysController } from './api-keys/api-keys.controller';
import { AuditModule } from './audit/audit.module';
import { AccessDenials } from './auth/access-denials';
import { ApiKeyGuard } from './auth/api-key.guard';
import { ApiKeyStore } from './auth/api-key.store';
import { BootstrapKey } from './auth/bootstrap-key';
import { ProbeRecorder } from './auth/probe-recorder.interceptor';
import { BudgetsModule } from './budgets/budgets.module';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from './config';
import { DeadlineEnforcer } from './coordinator/deadline-enforcer';
import { DispatchMarks } from './coordinator/dispatch-marks';
import { QueuedStepRelay } from './coordinator/queued-step-relay';
import { QueueDepthMetric } from './coordinator/queue-depth.metric';
import { StepDispatcher } from './coordinator/step-dispatcher';
import { StepResultsConsumer } from './coordinator/step-results.consumer';
import { TaskAdvancer } from './coordinator/task-advancer.service';
import { TaskProgress } from './coordinator/task-progress';
import { TaskSnapshots } from './coordinator/task-snapshots';
import { TaskStore } from './coordinator/task-store';
import { TaskTerminator } from './coordinator/task-terminator';
import { DeadLettersController } from './dead-letters/dead-letters.controller';
import { DeadLettersService } from './dead-letters/dead-letters.service';
import { ProblemDetailsFilter } from './http/problem-details.filter';
import { TaskCancellationService } from './tasks/task-cancellation.service';
import { TaskEventStreamService } from './tasks/task-event-stream.service';
import { TaskQueriesService } from './tasks/task-queries.service';
import { NewTaskStore } from './tasks/new-task-store';
import { TaskSubmissionService } from './tasks/task-submission.service';
import { TasksController } from './tasks/tasks.controller';

@Module({})
export class AppModule {
  static forRoot(config: OrchestratorConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ObservabilityModule.forRoot({
          service: 'orchestrator',
          logLevel: config.LOG_LEVEL,
          readiness: [PrismaService, JetStreamClient, JETSTREAM_STREAMS_CHECK],
          tracing: tracingFromEnv('orchestrator', config),
        }),
        PersistenceModule.forRoot({ connectionString: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX, auditCapture: config.AUDIT_CAPTURE }),
        MessagingModule.forRoot({
          ...natsConnectionFromEnv(config, 'orchestrator'),
          // The orchestrator owns the topology: it provisions every stream, and the
          // consumers of the agents too, so queue depth is measurable before agents start.
          streams: Object.values(STREAMS),
          consumers: allConsumers(config.STEP_ACK_WAIT_MS),
          shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
        }),
        BudgetsModule.forRoot(config),
        AuditModule.forRoot({ intervalMs: config.AUDIT_SEAL_INTERVAL_MS, batchSize: config.AUDIT_SEAL_BATCH_SIZE }),
      ],
      controllers: [TasksController, ApiKeysController, DeadLettersController],
      providers: [
        { provide: ORCHESTRATOR_CONFIG, useValue: config },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_FILTER, useClass: ProblemDetailsFilter },
        { provide: APP_INTERCEPTOR, useClass: ProbeRecorder },
        ApiKeyStore,
        AccessDenials,
        BootstrapKey,
        NewTaskStore,
        TaskSubmissionService,
        TaskQueriesService,
        TaskCancellationService,
        TaskEventStreamService,
        TaskStore,
        TaskSnapshots,
        TaskAdvancer,
        TaskTerminator,
        TaskProgress,
        DispatchMarks,
        StepDispatcher,
        StepResultsConsumer,
        QueuedStepRelay,
        DeadlineEnforcer,
        QueueDepthMetric,
        DeadLettersService,
      ],
    };
  }
}
