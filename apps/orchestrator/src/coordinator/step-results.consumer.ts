import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { CONSUMERS, type StepResult, StepResultV1 } from '@atelier/contracts';
import { describeRejection, type InboundMessage, JetStreamClient, type RejectionIssue, schemaIssues } from '@atelier/messaging';
import { LOGGER, type Logger, withLogFields } from '@atelier/observability';
import { appendAudit, isDatabaseUnavailable, PrismaService } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { TaskProgress } from './task-progress';

/** Redelivery delays while a result cannot be handled (Postgres away): capped, never given up. */
const RETRY_MS = [500, 1_000, 2_000, 5_000];

/** Consumes agents' step results: advance the task in Postgres, then publish what became ready. */
@Injectable()
export class StepResultsConsumer implements OnApplicationBootstrap {
  constructor(
    private readonly nats: JetStreamClient,
    private readonly progress: TaskProgress,
    private readonly prisma: PrismaService,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.nats.startConsumer({
      stream: CONSUMERS.stepResults.stream,
      durable: CONSUMERS.stepResults.durable,
      concurrency: this.config.RESULTS_CONCURRENCY,
      handler: (message) => this.handle(message),
    });
  }

  private async handle(message: InboundMessage): Promise<void> {
    const parsed = StepResultV1.safeParse(message.data);
    if (!parsed.success) {
      await this.reject(message, schemaIssues(parsed.error.issues));
      return;
    }
    const result = parsed.data;
    await withLogFields({ taskId: result.taskId, stepId: result.stepId }, () => this.advance(message, result));
  }

  private async advance(message: InboundMessage, result: StepResult): Promise<void> {
    const log = this.logger;
    try {
      const report = result.status === 'completed' && result.output !== undefined ? { stepId: result.stepId, output: result.output } : undefined;
      const advance = await this.progress.advance(result.taskId, result.stepId, report);
      if (advance.finished) log.info({ status: advance.finished.status }, 'task finished');
      message.ack();
    } catch (error) {
      const delay = RETRY_MS[Math.min(message.deliveryCount - 1, RETRY_MS.length - 1)];
      log.warn({ err: error, delivery: message.deliveryCount, database: isDatabaseUnavailable(error) }, 'advancing task failed; will retry');
      message.nak(delay);
    }
  }

  /** Terminated AND recorded (audit `message.rejected`); if it cannot be recorded yet, it comes back later. */
  private async reject(message: InboundMessage, issues: RejectionIssue[]): Promise<void> {
    const details = describeRejection(message, CONSUMERS.stepResults.stream, 'invalid step.result message', issues);
    try {
      await appendAudit(this.prisma, { action: 'message.rejected', actor: 'service:orchestrator', subject: `message:${details.stream}/${details.streamSequence}`, data: details });
    } catch (error) {
      this.logger.warn({ err: error }, 'cannot record a rejected step result yet; will retry');
      message.nak(RETRY_MS.at(-1));
      return;
    }
    this.logger.error(details, 'step result rejected and terminated');
    message.term('invalid step.result message');
  }
}
