import { createHmac } from 'node:crypto';
import { type Clock, type PrismaService, systemClock } from '@atelier/persistence';

export interface AlertWebhookOptions {
  /** Unset: alerts are marked `skipped` (still audited and counted, nothing to send). */
  url?: string;
  secret?: string;
  timeoutMs: number;
  maxAttempts: number;
}

interface DueAlert {
  id: string;
  budget_id: string;
  scope: string;
  scope_key: string;
  period: string;
  threshold: number;
  window_start: Date;
  limit_usd: string;
  spent_usd: string;
  created_at: Date;
  attempts: number;
  task_id: string | null;
  tenant: string | null;
}

const BATCH = 20;
const MAX_BACKOFF_MS = 10 * 60_000;

/** `sha256=<hex>` of HMAC-SHA256(secret, body): receivers recompute it over the raw body they got. */
export function signAlertBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** 1 s, 2 s, 4 s, … up to 10 min, with ±20 % jitter so replicas do not retry in step. */
export function alertRetryDelayMs(attempts: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * Drains the budget_alerts outbox to the webhook: claims due alerts (SKIP LOCKED and a
 * lease, so replicas never send the same one at once and a crash mid-send is retried),
 * POSTs each signed, then marks it delivered or schedules a retry with back-off until
 * the last attempt. Runs on its own timer: never on the path of a model call.
 */
export class AlertWebhookDelivery {
  constructor(
    private readonly prisma: PrismaService,
    private readonly options: AlertWebhookOptions,
    private readonly clock: Clock = systemClock,
  ) {}

  /** One pass over due alerts; returns how many were delivered. */
  async deliverDue(): Promise<number> {
    const now = this.clock.now();
    if (!this.options.url) {
      await this.prisma.$executeRaw`UPDATE budget_alerts SET state = 'skipped' WHERE state = 'pending' AND next_attempt_at <= ${now}`;
      return 0;
    }
    const lease = new Date(now.getTime() + this.options.timeoutMs + 5_000);
    const due = await this.prisma.$queryRaw<DueAlert[]>`
      UPDATE budget_alerts a
         SET attempts = a.attempts + 1, next_attempt_at = ${lease}
       WHERE a.id IN (SELECT id FROM budget_alerts
                       WHERE state = 'pending' AND next_attempt_at <= ${now}
                       ORDER BY created_at LIMIT ${BATCH}
                         FOR UPDATE SKIP LOCKED)
      RETURNING a.id::text, a.budget_id::text, a.scope::text, a.scope_key, a.period::text, a.threshold, a.window_start,
                trim_scale(a.limit_usd)::text AS limit_usd, trim_scale(a.spent_usd)::text AS spent_usd, a.created_at, a.attempts,
                a.task_id::text, (SELECT t.name FROM tenants t WHERE t.id = a.tenant_id) AS tenant`;
    const results = await Promise.all(due.map((alert) => this.send(alert)));
    return results.filter(Boolean).length;
  }

  private async send(alert: DueAlert): Promise<boolean> {
    const body = JSON.stringify({
      type: 'budget.alert',
      id: alert.id,
      occurredAt: alert.created_at.toISOString(),
      threshold: alert.threshold,
      budget: {
        id: alert.budget_id,
        scope: alert.scope,
        tenant: alert.tenant,
        taskId: alert.task_id,
        period: alert.period,
        limitUsd: alert.limit_usd,
        spentUsd: alert.spent_usd,
        windowStart: alert.window_start.toISOString(),
      },
    });
    let failure: string;
    try {
      const response = await fetch(this.options.url as string, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-atelier-event': 'budget.alert',
          'x-atelier-delivery': alert.id,
          'x-atelier-signature': signAlertBody(this.options.secret as string, body),
        },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await response.body?.cancel();
      if (response.ok) {
        await this.prisma.$executeRaw`UPDATE budget_alerts SET state = 'delivered', delivered_at = ${this.clock.now()}, last_error = NULL WHERE id = ${alert.id}::uuid`;
        return true;
      }
      failure = `HTTP ${response.status}`;
    } catch (error) {
      failure = (error as Error).name === 'TimeoutError' ? `no answer within ${this.options.timeoutMs} ms` : `request failed: ${(error as Error).message}`;
    }
    const giveUp = alert.attempts >= this.options.maxAttempts;
    const next = new Date(this.clock.now().getTime() + alertRetryDelayMs(alert.attempts));
    await this.prisma.$executeRaw`
      UPDATE budget_alerts SET state = ${giveUp ? 'failed' : 'pending'}::budget_alert_state, next_attempt_at = ${next}, last_error = ${failure}
       WHERE id = ${alert.id}::uuid`;
    return false;
  }
}
