import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { LOGGER, type Logger } from '@atelier/observability';
import { PrismaService } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { AlertWebhookDelivery } from './alert-webhook-delivery';
import { Periodic } from './periodic';

/** Sends budget alerts to ATELIER_ALERT_WEBHOOK_URL on a timer (see AlertWebhookDelivery). */
@Injectable()
export class AlertWebhookSender implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly periodic: Periodic;
  readonly delivery: AlertWebhookDelivery;

  constructor(prisma: PrismaService, @Inject(ORCHESTRATOR_CONFIG) config: OrchestratorConfig, @Inject(LOGGER) logger: Logger) {
    this.delivery = new AlertWebhookDelivery(prisma, {
      url: config.ATELIER_ALERT_WEBHOOK_URL,
      secret: config.ATELIER_ALERT_WEBHOOK_SECRET,
      timeoutMs: config.ATELIER_ALERT_WEBHOOK_TIMEOUT_MS,
      maxAttempts: config.ATELIER_ALERT_WEBHOOK_MAX_ATTEMPTS,
    });
    // Alerts are rare and someone waits for them: poll faster than the sweep, and cheaply (one indexed UPDATE).
    this.periodic = new Periodic(Math.min(1_000, config.SPEND_SWEEP_INTERVAL_MS), () => this.delivery.deliverDue(), (error) => logger.warn({ err: error }, 'sending budget alerts failed; will retry'));
  }

  onApplicationBootstrap(): void {
    this.periodic.start();
  }

  onApplicationShutdown(): void {
    this.periodic.stop();
  }
}
