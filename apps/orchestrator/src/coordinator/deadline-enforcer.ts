import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { LOGGER, type Logger } from '@atelier/observability';
import { PrismaService } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { TaskTerminator } from './task-terminator';

const BATCH = 100;

/**
 * Ends tasks past their `deadlineSeconds` as `timed_out`. Every replica runs it; the
 * terminator's version check lets exactly one of them end each task. (Agents also abort a
 * step at its task's deadline on their own, so the model call stops even before this runs.)
 */
@Injectable()
export class DeadlineEnforcer implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly prisma: PrismaService,
    private readonly terminator: TaskTerminator,
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.enforceOnce(), this.config.DEADLINE_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async enforceOnce(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const { rows } = await this.prisma.sql.query<{ id: string }>(
        `SELECT id FROM tasks WHERE status IN ('queued', 'running') AND deadline_at <= now() ORDER BY deadline_at LIMIT ${BATCH}`,
      );
      let ended = 0;
      for (const { id } of rows) {
        const outcome = await this.terminator.stop(id, { status: 'timed_out', actor: 'service:orchestrator' });
        if (outcome.type === 'stopped') ended += 1;
      }
      if (ended > 0) this.logger.info({ tasks: ended }, 'tasks timed out');
      return ended;
    } catch (error) {
      this.logger.warn({ err: error }, 'deadline check failed; will retry');
      return 0;
    } finally {
      this.running = false;
    }
  }
}
