import { Inject, Injectable } from '@nestjs/common';
import { AGENTS, type AgentName, agentStream, CONSUMERS, messageIds } from '@atelier/contracts';
import { JetStreamClient } from '@atelier/messaging';
import { inTraceOf, LOGGER, type Logger, METRICS_CATALOG, type MetricsCatalog } from '@atelier/observability';
import { PrismaService } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { PeriodicJob } from '../budgets/periodic-job';
import { type DispatchableStep, StepDispatcher } from './step-dispatcher';
import { TaskProgress } from './task-progress';

const BATCH = 500;
const STALLED_BATCH = 100;
/**
 * Suspects whose message is looked up in the broker per agent and run. The oldest are
 * looked at first: a backlog drains in order, so a lost message soon becomes its agent's
 * oldest waiting step, and a few lookups per run find it.
 */
const SUSPECTS_PER_AGENT = 20;

/** A step out longer than $2 ms: its message, if the broker still holds it, has been waiting rather than travelling. */
const OVERDUE = `(
     (s.status = 'queued' AND s.dispatched_at < now() - $2 * interval '1 millisecond')
  OR (s.status = 'running' AND greatest(s.lease_until, s.dispatched_at) < now() - $2 * interval '1 millisecond'))`;

interface RelayRow extends DispatchableStep {
  traceId: string | null;
  /** Published again under a new message id: the broker lost the first (else: never confirmed published). */
  lost: boolean;
}

/**
 * What the relay publishes again, oldest first:
 * - queued steps never marked dispatched after the grace period ($1: the publish after
 *   commit failed, or the process died between commit and publish), under their message
 *   id, which the broker drops if the first publish did land;
 * - overdue steps (queued ones dispatched more than $2 ago, running ones whose lease
 *   lapsed more than $2 ago without a redelivery taking them over) whose message must
 *   have been lost: those of the agents in $3 (whose stream holds no message at all, or
 *   lost its tail) and those in $4 (whose message the broker no longer holds). These get
 *   a new message id (dispatch_seq + 1): the broker may still remember the old one. Each
 *   is re-stamped, so it is published at most once per $2.
 * A step whose message still waits in its stream (a backlog) is never published again.
 */
const RELAY_SQL = `
WITH due AS (
  SELECT s.id, (s.status = 'running' OR s.dispatched_at IS NOT NULL) AS lost
  FROM steps s JOIN tasks t ON t.id = s.task_id
  WHERE t.status IN ('queued', 'running') AND (
        (s.status = 'queued' AND s.dispatched_at IS NULL AND s.queued_at < now() - $1 * interval '1 millisecond')
     OR ((s.agent = ANY($3::text[]) OR s.id = ANY($4::uuid[])) AND ${OVERDUE}))
  ORDER BY s.queued_at LIMIT ${BATCH}
  FOR UPDATE OF s SKIP LOCKED
)
UPDATE steps s SET dispatched_at = CASE WHEN due.lost THEN now() END, dispatch_seq = s.dispatch_seq + CASE WHEN due.lost THEN 1 ELSE 0 END
FROM due, tasks t WHERE s.id = due.id AND t.id = s.task_id
RETURNING s.id, s.task_id AS "taskId", t.tenant_id AS "tenantId", s.kind, s.agent, s.dispatch_seq AS "dispatchSeq", t.trace_id AS "traceId", due.lost`;

/**
 * The oldest overdue steps ($2) of each agent in $1 whose message is known by its stream
 * sequence: the suspects whose message the relay looks up in the broker.
 */
const SUSPECTS_SQL = `
SELECT s.id, s.agent, s.dispatch_seq AS "dispatchSeq", s.dispatch_stream_seq::text AS "streamSeq"
FROM unnest($1::text[]) AS a(agent)
CROSS JOIN LATERAL (
  SELECT s.id, s.agent, s.dispatch_seq, s.dispatch_stream_seq
  FROM steps s JOIN tasks t ON t.id = s.task_id
  WHERE s.agent = a.agent AND s.dispatch_stream_seq IS NOT NULL
    AND t.status IN ('queued', 'running') AND ${OVERDUE}
  ORDER BY s.dispatched_at LIMIT ${SUSPECTS_PER_AGENT}
) s`;

interface SuspectRow {
  id: string;
  agent: AgentName;
  dispatchSeq: number;
  streamSeq: string;
}

/**
 * Running tasks none of whose steps is unfinished or changed within $1: the result that
 * should have moved them on was lost. Running tasks by `tasks_status_idx`, less those
 * with a queued or running step (a hashed anti-join on `steps_status_queued_at_idx`), so
 * only the few left are looked at step by step.
 */
const STALLED_SQL = `
SELECT t.id, t.trace_id AS "traceId" FROM tasks t
WHERE t.status = 'running'
  AND t.id NOT IN (SELECT task_id FROM steps WHERE status IN ('queued', 'running'))
  AND NOT EXISTS (SELECT 1 FROM steps s WHERE s.task_id = t.id AND s.updated_at > now() - $1 * interval '1 millisecond')
ORDER BY t.updated_at LIMIT ${STALLED_BATCH}`;

export interface RelayRun {
  /** Steps published again. */
  steps: number;
  /** Tasks moved on whose result was lost. */
  tasks: number;
}

/**
 * Messages that never arrived, made good from the rows in Postgres (the record of truth):
 * - Publish-after-commit can fail (NATS down, process killed between commit and publish);
 *   the relay publishes what was left behind.
 * - A broker can lose acknowledged messages (a crash within its fsync interval). A step
 *   message is presumed lost only when the broker no longer holds it at the stream
 *   sequence its publish was acknowledged with, or when its agent's stream holds nothing
 *   at all (every message delivered and acknowledged) or its sequence went backwards (the
 *   stream lost its tail); a backlog is never published twice.
 * - A lost step result leaves its task running with every step finished: the safety net
 *   advances such tasks, unless results are still waiting to be handled.
 * Safe on every replica at once: SKIP LOCKED, message ids the broker de-duplicates, agents
 * that never re-run a finished or leased step, advances that are version-checked.
 */
@Injectable()
export class QueuedStepRelay extends PeriodicJob {
  /** The last sequence seen on each agent stream: a smaller one later means the stream lost messages. */
  private readonly lastSequences = new Map<AgentName, number>();

  constructor(
    private readonly prisma: PrismaService,
    private readonly dispatcher: StepDispatcher,
    private readonly progress: TaskProgress,
    private readonly nats: JetStreamClient,
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_CATALOG) private readonly metrics: MetricsCatalog,
  ) {
    super(config.RELAY_INTERVAL_MS, logger, 'relay of queued steps failed; will retry');
  }

  async runOnce(): Promise<RelayRun> {
    // Long enough that a message still on its way (published, delivered, redelivered after an ack wait) is not taken for lost.
    const lostAfterMs = 2 * Math.max(this.config.STEP_ACK_WAIT_MS, this.config.RELAY_INTERVAL_MS);
    const steps = await this.relaySteps(lostAfterMs);
    const tasks = await this.advanceStalledTasks(lostAfterMs);
    return { steps, tasks };
  }

  private async relaySteps(lostAfterMs: number): Promise<number> {
    const drained = await this.agentsWithNothingQueued();
    const gone = await this.stepsWhoseMessageIsGone(drained, lostAfterMs);
    const { rows } = await this.prisma.pool.query<RelayRow>(RELAY_SQL, [this.config.RELAY_INTERVAL_MS, lostAfterMs, drained, gone]);
    // Back in its task's trace: the relayed step's spans join the rest of the task.
    await Promise.all(
      rows.map(({ traceId, lost, ...step }) => {
        this.metrics.relayRecoveries.inc({ what: lost ? 'lost_step' : 'unpublished_step' });
        return inTraceOf(traceId, () => this.dispatcher.dispatch([step]));
      }),
    );
    if (rows.length > 0) this.logger.info({ steps: rows.length, drainedAgents: drained, messagesGone: gone.length }, 'relayed steps left unpublished or lost');
    return rows.length;
  }

  /**
   * Overdue steps of agents whose stream still holds messages (a backlog, so none of it is
   * presumed lost) whose own message the broker no longer holds: nothing at its stream
   * sequence, or another message there (the stream lost its tail and refilled).
   */
  private async stepsWhoseMessageIsGone(drained: readonly AgentName[], lostAfterMs: number): Promise<string[]> {
    const busy = AGENTS.filter((agent) => !drained.includes(agent));
    if (busy.length === 0) return [];
    const { rows } = await this.prisma.pool.query<SuspectRow>(SUSPECTS_SQL, [busy, lostAfterMs]);
    const gone = await Promise.all(
      rows.map(async (step) => {
        try {
          const stored = await this.nats.jsm.streams.getMessage(agentStream(step.agent).stream, { seq: Number(step.streamSeq) });
          return stored?.header?.get('Nats-Msg-Id') === messageIds.dispatch(step.id, step.dispatchSeq) ? undefined : step.id;
        } catch (error) {
          this.logger.warn({ err: error, agent: step.agent }, 'cannot look up a step message; not relaying it this time');
          return undefined;
        }
      }),
    );
    return gone.filter((id): id is string => id !== undefined);
  }

  /** Agents whose stream holds no message (nothing pending, unacknowledged or waiting for redelivery) or lost its tail. */
  private async agentsWithNothingQueued(): Promise<AgentName[]> {
    const drained = await Promise.all(
      AGENTS.map(async (agent) => {
        try {
          const { state } = await this.nats.jsm.streams.info(agentStream(agent).stream);
          const reset = state.last_seq < (this.lastSequences.get(agent) ?? 0);
          this.lastSequences.set(agent, state.last_seq);
          if (reset) this.logger.warn({ agent, lastSequence: state.last_seq }, 'agent stream lost messages; republishing what it should hold');
          return state.messages === 0 || reset ? agent : undefined;
        } catch (error) {
          this.logger.warn({ err: error, agent }, 'cannot read the agent stream; not relaying its lost steps this time');
          return undefined;
        }
      }),
    );
    return drained.filter((agent): agent is AgentName => agent !== undefined);
  }

  /** The safety net for lost results; skipped while results wait to be handled (those will advance their tasks). */
  private async advanceStalledTasks(lostAfterMs: number): Promise<number> {
    const results = await this.nats.jsm.consumers.info(CONSUMERS.stepResults.stream, CONSUMERS.stepResults.durable);
    if (results.num_pending > 0) return 0;
    const { rows } = await this.prisma.pool.query<{ id: string; traceId: string | null }>(STALLED_SQL, [lostAfterMs]);
    for (const { id, traceId } of rows) await inTraceOf(traceId, () => this.progress.advance(id));
    if (rows.length > 0) {
      this.metrics.relayRecoveries.inc({ what: 'lost_result' }, rows.length);
      this.logger.warn({ tasks: rows.length }, 'advanced running tasks whose step results were lost');
    }
    return rows.length;
  }
}
