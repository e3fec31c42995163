import { Inject, Injectable } from '@nestjs/common';
import { AGENTS, agentConsumer } from '@atelier/contracts';
import { JetStreamClient } from '@atelier/messaging';
import { LOGGER, type Logger, METRICS_CATALOG, type MetricsCatalog } from '@atelier/observability';
import { PeriodicJob } from '../budgets/periodic-job';

const SAMPLE_INTERVAL_MS = 5_000;

/**
 * `atelier_queue_depth{agent}`: steps waiting for an agent kind (JetStream num_pending +
 * num_ack_pending of its work queue), what the autoscaler sizes agent replicas by.
 * Every orchestrator replica reports the same value (a gauge: no double counting).
 */
@Injectable()
export class QueueDepthMetric extends PeriodicJob {
  constructor(
    private readonly nats: JetStreamClient,
    @Inject(METRICS_CATALOG) private readonly metrics: MetricsCatalog,
    @Inject(LOGGER) logger: Logger,
  ) {
    super(SAMPLE_INTERVAL_MS, logger, 'sampling queue depth failed; will retry');
  }

  async runOnce(): Promise<void> {
    await Promise.all(
      AGENTS.map(async (agent) => {
        const { stream, durable } = agentConsumer(agent);
        this.metrics.queueDepth.set({ agent }, await this.nats.queueDepth(stream, durable));
      }),
    );
  }
}
