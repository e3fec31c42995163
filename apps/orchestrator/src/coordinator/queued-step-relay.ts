import { Inject, Injectable } from '@nestjs/common';
import { inTraceOf, LOGGER, type Logger } from '@atelier/observability';
import { PrismaService } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { PeriodicJob } from '../budgets/periodic-job';
import { type DispatchableStep, StepDispatcher } from './step-dispatcher';

const BATCH = 500;

interface RelayRow extends DispatchableStep {
  traceId: string | null;
}

/**
 * What the relay publishes again, oldest first:
 * - queued steps never marked dispatched after the grace period (the publish after
 *   commit failed, or the process died between commit and publish);
 * - steps whose message must have been lost (a broker that lost data): queued ones
 *   dispatched long ago and never started, running ones whose lease lapsed long ago
 *   without a redelivery taking them over. Each is re-stamped, so it is published at
 *   most once per `stale` period however long the outage lasts.
 */
const STALE_SQL = `
WITH due AS (
  SELECT s.id FROM steps s JOIN tasks t ON t.id = s.task_id
  WHERE t.status IN ('queued', 'running') AND (
        (s.status = 'queued' AND s.dispatched_at IS NULL AND s.queued_at < now() - $1 * interval '1 millisecond')
     OR (s.status = 'queued' AND s.dispatched_at < now() - $2 * interval '1 millisecond')
     OR (s.status = 'running' AND greatest(s.lease_until, s.dispatched_at) < now() - $2 * interval '1 millisecond'))
  ORDER BY s.queued_at LIMIT ${BATCH}
  FOR UPDATE OF s SKIP LOCKED
)
UPDATE steps s SET dispatched_at = CASE WHEN s.dispatched_at IS NULL THEN NULL ELSE now() END
FROM due, tasks t WHERE s.id = due.id AND t.id = s.task_id
RETURNING s.id, s.task_id AS "taskId", t.tenant_id AS "tenantId", s.kind, s.agent, s.dispatch_seq AS "dispatchSeq", t.trace_id AS "traceId"`;

/**
 * Publish-after-commit can fail (NATS down, process killed between commit and publish);
 * the relay publishes what was left behind. It is safe to run on every replica at once:
 * the message id `<stepId>:<n>` is de-duplicated by JetStream inside its window, and an
 * agent never re-runs a step that has finished or is leased to another delivery.
 */
@Injectable()
export class QueuedStepRelay extends PeriodicJob {
  constructor(
    private readonly prisma: PrismaService,
    private readonly dispatcher: StepDispatcher,
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    super(config.RELAY_INTERVAL_MS, logger, 'relay of queued steps failed; will retry');
  }

  /** Publishes what was left unpublished; returns how many steps. */
  async runOnce(): Promise<number> {
    // A step younger than one interval may still be being published by the code that created it.
    const stale = 10 * Math.max(this.config.STEP_ACK_WAIT_MS, this.config.RELAY_INTERVAL_MS);
    const { rows } = await this.prisma.pool.query<RelayRow>(STALE_SQL, [this.config.RELAY_INTERVAL_MS, stale]);
    await Promise.all(
      // Back in its task's trace: the relayed step's spans join the rest of the task.
      rows.map(({ traceId, ...step }) => inTraceOf(traceId, () => this.dispatcher.dispatch([step]))),
    );
    if (rows.length > 0) this.logger.info({ steps: rows.length }, 'relayed steps left unpublished');
    return rows.length;
  }
}
