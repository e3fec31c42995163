import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { CONSUMERS, HEADERS, StepResultV1 } from '@atelier/contracts';
import { type InboundMessage, JetStreamClient } from '@atelier/messaging';
import { LOGGER, type Logger, traceFrom } from '@atelier/observability';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { StepDispatcher } from './step-dispatcher';
import { TaskAdvancer } from './task-advancer.service';

/** Consumes agents' step results: advance the task in Postgres, then publish what became ready. */
@Injectable()
export class StepResultsConsumer implements OnApplicationBootstrap {
  constructor(
    private readonly nats: JetStreamClient,
    private readonly advancer: TaskAdvancer,
    private readonly dispatcher: StepDispatcher,
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
      this.logger.error({ subject: message.subject, issues: parsed.error.issues.slice(0, 5) }, 'invalid step result terminated');
      message.term('invalid step.result message');
      return;
    }
    const result = parsed.data;
    const trace = traceFrom(message.header(HEADERS.traceparent));
    const log = this.logger.child({ taskId: result.taskId, stepId: result.stepId, traceId: trace.traceId });
    try {
      const advance = await this.advancer.advance(result.taskId, trace.traceId);
      await this.dispatcher.dispatch(advance.toDispatch, trace);
      if (advance.finished) log.info({ status: advance.finished.toLowerCase() }, 'task finished');
      message.ack();
    } catch (error) {
      log.warn({ err: error, delivery: message.deliveryCount }, 'advancing task failed; will retry');
      message.nak(1_000 * Math.min(message.deliveryCount, 10));
    }
  }
}
