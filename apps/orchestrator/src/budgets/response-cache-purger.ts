import { Inject, Injectable } from '@nestjs/common';
import { LOGGER, type Logger } from '@atelier/observability';
import { PrismaService } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { PeriodicJob } from './periodic-job';

const BATCH = 1_000;

/** Expired LLM responses are never served (lookups check expires_at); this only keeps the table small. */
@Injectable()
export class ResponseCachePurger extends PeriodicJob {
  constructor(
    private readonly prisma: PrismaService,
    @Inject(ORCHESTRATOR_CONFIG) config: OrchestratorConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    super(config.SPEND_SWEEP_INTERVAL_MS * 12, logger, 'purging the response cache failed; will retry');
  }

  async runOnce(): Promise<number> {
    let purged = 0;
    for (;;) {
      const count = await this.prisma.$executeRaw`
        DELETE FROM llm_response_cache WHERE key IN (SELECT key FROM llm_response_cache WHERE expires_at < now() LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)`;
      purged += count;
      if (count < BATCH) return purged;
    }
  }
}
