import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { LOGGER, type Logger } from '@atelier/observability';
import { PrismaService } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { Periodic } from './periodic';

const BATCH = 1_000;

/** Expired LLM responses are never served (lookups check expires_at); this only keeps the table small. */
@Injectable()
export class ResponseCachePurger implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly periodic: Periodic;

  constructor(
    private readonly prisma: PrismaService,
    @Inject(ORCHESTRATOR_CONFIG) config: OrchestratorConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.periodic = new Periodic(config.SPEND_SWEEP_INTERVAL_MS * 12, () => this.purgeOnce(), (error) => this.logger.warn({ err: error }, 'purging the response cache failed; will retry'));
  }

  onApplicationBootstrap(): void {
    this.periodic.start();
  }

  onApplicationShutdown(): void {
    this.periodic.stop();
  }

  async purgeOnce(): Promise<number> {
    let purged = 0;
    for (;;) {
      const count = await this.prisma.$executeRaw`
        DELETE FROM llm_response_cache WHERE key IN (SELECT key FROM llm_response_cache WHERE expires_at < now() LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)`;
      purged += count;
      if (count < BATCH) return purged;
    }
  }
}
