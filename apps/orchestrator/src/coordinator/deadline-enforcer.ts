import { Inject, Injectable } from '@nestjs/common';
import { LOGGER, type Logger } from '@atelier/observability';
import { PrismaService } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { PeriodicJob } from '../budgets/periodic-job';
import { TaskTerminator } from './task-terminator';

const BATCH = 100;

/**
 * Ends tasks past their `deadlineSeconds` as `timed_out`. Every replica runs it; the
 * terminator's version check lets exactly one of them end each task. (Agents also abort a
 * step at its task's deadline on their own, so the model call stops even before this runs.)
 */
@Injectable()
export class DeadlineEnforcer extends PeriodicJob {
  constructor(
    private readonly prisma: PrismaService,
    private readonly terminator: TaskTerminator,
    @Inject(ORCHESTRATOR_CONFIG) config: OrchestratorConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    super(config.DEADLINE_CHECK_INTERVAL_MS, logger, 'deadline check failed; will retry');
  }

  /** Ends what is past its deadline; returns how many tasks it ended. */
  async runOnce(): Promise<number> {
    const { rows } = await this.prisma.pool.query<{ id: string }>(
      `SELECT id FROM tasks WHERE status IN ('queued', 'running') AND deadline_at <= now() ORDER BY deadline_at LIMIT ${BATCH}`,
    );
    let ended = 0;
    for (const { id } of rows) {
      const outcome = await this.terminator.stop(id, { status: 'timed_out', actor: 'service:orchestrator' });
      if (outcome.type === 'stopped') ended += 1;
    }
    if (ended > 0) this.logger.info({ tasks: ended }, 'tasks timed out');
    return ended;
  }
}
