import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createPrismaClient, type PrismaService } from '@atelier/persistence';
import { createTestDatabase, type TestDatabase } from '@atelier/testing';
import { AlertWebhookDelivery, alertRetryDelayMs, signAlertBody } from './alert-webhook-delivery';

const SECRET = 'a-webhook-secret-of-some-length';

describe(AlertWebhookDelivery.name, () => {
  let db: TestDatabase;
  let prisma: PrismaService;
  let server: Server;
  let url: string;
  let answer: (count: number) => number | 'hang';
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const clock = { at: new Date('2026-11-23T10:00:00.000Z'), now() { return this.at; } };

  beforeAll(async () => {
    db = await createTestDatabase('atelier_alert_webhook');
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 4 });
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        const status = answer(received.length);
        if (status !== 'hang') response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/alerts`;
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await prisma?.$disconnect();
    await db?.drop();
  });

  beforeEach(async () => {
    received.length = 0;
    answer = () => 200;
    clock.at = new Date('2026-11-23T10:00:00.000Z');
    await prisma.budgetAlert.deleteMany();
  });

  async function alert(threshold = 80) {
    const tenant = await prisma.tenant.upsert({ where: { name: 'acme' }, create: { name: 'acme' }, update: {} });
    const budget = await prisma.budget.upsert({
      where: { scopeKey_period: { scopeKey: `tenant:${tenant.id}`, period: 'DAY' } },
      create: { scope: 'TENANT', scopeKey: `tenant:${tenant.id}`, tenantId: tenant.id, period: 'DAY', limitUsd: '10', windowStart: new Date('2026-11-23T00:00:00Z') },
      update: {},
    });
    return prisma.budgetAlert.create({
      data: { budgetId: budget.id, tenantId: tenant.id, scope: 'TENANT', scopeKey: budget.scopeKey, period: 'DAY', threshold, windowStart: budget.windowStart, limitUsd: '10', spentUsd: '8.5', nextAttemptAt: clock.now() },
    });
  }

  const delivery = (options: Partial<ConstructorParameters<typeof AlertWebhookDelivery>[1]> = {}) =>
    new AlertWebhookDelivery(prisma, { url, secret: SECRET, timeoutMs: 500, maxAttempts: 3, ...options }, clock);

  it('POSTs each due alert once as signed JSON and marks it delivered', async () => {
    const created = await alert();
    expect(await delivery().deliverDue()).toBe(1);
    expect(received).toHaveLength(1);
    const [{ headers, body }] = received as [{ headers: IncomingHttpHeaders; body: string }];
    expect(headers).toMatchObject({ 'content-type': 'application/json', 'x-atelier-event': 'budget.alert', 'x-atelier-delivery': created.id });
    expect(headers['x-atelier-signature']).toBe(signAlertBody(SECRET, body));
    expect(JSON.parse(body)).toEqual({
      type: 'budget.alert',
      id: created.id,
      occurredAt: created.createdAt.toISOString(),
      threshold: 80,
      budget: { id: created.budgetId, scope: 'tenant', tenant: 'acme', taskId: null, period: 'day', limitUsd: '10', spentUsd: '8.5', windowStart: '2026-11-23T00:00:00.000Z' },
    });
    expect(await prisma.budgetAlert.findUniqueOrThrow({ where: { id: created.id } })).toMatchObject({ state: 'DELIVERED', attempts: 1, lastError: null });
    expect(await delivery().deliverDue()).toBe(0);
    expect(received).toHaveLength(1);
  });

  it('retries a refused or unanswered delivery with back-off, and gives up after the last attempt', async () => {
    const created = await alert();
    answer = (count) => (count === 2 ? 'hang' : 503);
    const sender = delivery();
    const row = () => prisma.budgetAlert.findUniqueOrThrow({ where: { id: created.id } });

    await sender.deliverDue();
    expect(await row()).toMatchObject({ state: 'PENDING', attempts: 1, lastError: 'HTTP 503' });
    const retryAt = (await row()).nextAttemptAt.getTime() - clock.now().getTime();
    expect(retryAt).toBeGreaterThanOrEqual(800);
    expect(retryAt).toBeLessThanOrEqual(1_200);
    await sender.deliverDue(); // not due yet
    expect(received).toHaveLength(1);

    clock.at = new Date(clock.at.getTime() + 2_000);
    await sender.deliverDue();
    expect(await row()).toMatchObject({ state: 'PENDING', attempts: 2, lastError: 'no answer within 500 ms' });

    clock.at = new Date(clock.at.getTime() + 5_000);
    await sender.deliverDue();
    expect(await row()).toMatchObject({ state: 'FAILED', attempts: 3, lastError: 'HTTP 503' });
    clock.at = new Date(clock.at.getTime() + 3_600_000);
    await sender.deliverDue();
    expect(received).toHaveLength(3);
  });

  it('sends each alert once when several replicas drain the outbox at the same time', async () => {
    const alerts = await Promise.all([10, 20, 30, 40, 50].map((threshold) => alert(threshold)));
    const delivered = await Promise.all([delivery().deliverDue(), delivery().deliverDue(), delivery().deliverDue()]);
    expect(delivered.reduce((a, b) => a + b, 0)).toBe(alerts.length);
    expect(received.map((r) => r.headers['x-atelier-delivery']).sort()).toEqual(alerts.map((a) => a.id).sort());
  });

  it('marks alerts skipped when no webhook is configured', async () => {
    const created = await alert();
    await delivery({ url: undefined }).deliverDue();
    expect((await prisma.budgetAlert.findUniqueOrThrow({ where: { id: created.id } })).state).toBe('SKIPPED');
    expect(received).toHaveLength(0);
  });

  it('backs off exponentially with jitter, capped at ten minutes', () => {
    expect([1, 2, 3, 4].map((attempts) => alertRetryDelayMs(attempts, () => 0.5))).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect(alertRetryDelayMs(30, () => 0.5)).toBe(600_000);
    expect(alertRetryDelayMs(1, () => 0)).toBe(800);
    expect(alertRetryDelayMs(1, () => 1)).toBe(1_200);
  });
});
