import { Inject, Injectable } from '@nestjs/common';
import { LOGGER, type Logger } from '@atelier/observability';
import { type Clock, PrismaService } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { AlertWebhookDelivery } from './alert-webhook-delivery';
import { BUDGET_CLOCK } from './budget-clock';
import { PeriodicJob } from './periodic-job';

/** Sends budget alerts to ATELIER_ALERT_WEBHOOK_URL on a timer (see AlertWebhookDelivery). */
@Injectable()
export class AlertWebhookSender extends PeriodicJob {
  private readonly delivery: AlertWebhookDelivery;

  constructor(prisma: PrismaService, @Inject(ORCHESTRATOR_CONFIG) config: OrchestratorConfig, @Inject(LOGGER) logger: Logger, @Inject(BUDGET_CLOCK) clock: Clock) {
    // Alerts are rare and someone waits for them: poll faster than the sweep, and cheaply (one indexed UPDATE).
    super(Math.min(1_000, config.SPEND_SWEEP_INTERVAL_MS), logger, 'sending budget alerts failed; will retry');
    this.delivery = new AlertWebhookDelivery(prisma, {
      url: config.ATELIER_ALERT_WEBHOOK_URL,
      secret: config.ATELIER_ALERT_WEBHOOK_SECRET,
      timeoutMs: config.ATELIER_ALERT_WEBHOOK_TIMEOUT_MS,
      maxAttempts: config.ATELIER_ALERT_WEBHOOK_MAX_ATTEMPTS,
    }, clock);
  }

  runOnce(): Promise<number> {
    return this.delivery.deliverDue();
  }
}
