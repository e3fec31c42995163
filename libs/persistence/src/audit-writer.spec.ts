import { createTestDatabase, type TestDatabase } from '@atelier/testing';
import { appendAudit } from './audit-writer';
import { createPrismaClient, type PrismaService } from './prisma.service';

describe(appendAudit.name, () => {
  let db: TestDatabase;
  let prisma: PrismaService;

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 2 });
  });

  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  const events = (subjectPrefix: string) =>
    prisma.$queryRaw<{ subject: string; action: string; data: Record<string, unknown>; same_tx: boolean }[]>`
      SELECT subject, action, data, tx_id = min(tx_id) OVER () AS same_tx FROM audit_events WHERE subject LIKE ${`${subjectPrefix}%`} ORDER BY seq`;

  it('writes the events in the given order, in the caller transaction, or not at all', async () => {
    await prisma.$transaction((tx) =>
      appendAudit(
        tx,
        { action: 'task.submitted', actor: 'service:test', subject: 'order:1', data: { n: 1 } },
        { action: 'step.queued', actor: 'service:test', subject: 'order:2', tenantId: null, data: { n: 2, nested: { list: [1, 'two'] } } },
        { action: 'step.queued', actor: 'service:test', subject: 'order:3' },
      ),
    );
    expect(await events('order:')).toEqual([
      { subject: 'order:1', action: 'task.submitted', data: { n: 1 }, same_tx: true },
      { subject: 'order:2', action: 'step.queued', data: { n: 2, nested: { list: [1, 'two'] } }, same_tx: true },
      { subject: 'order:3', action: 'step.queued', data: {}, same_tx: true },
    ]);

    await expect(
      prisma.$transaction(async (tx) => {
        await appendAudit(tx, { action: 'task.failed', actor: 'service:test', subject: 'rolled-back:1' });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await events('rolled-back:')).toEqual([]);
  });

  it('keeps secrets out of the data, wherever the caller put them', async () => {
    const key = ['sk', 'ant', 'api03', 'abcdefghijklmnopqrstuvwxyz012345'].join('-');
    await appendAudit(prisma, {
      action: 'step.failed',
      actor: 'service:research-agent',
      subject: 'secret:1',
      data: { code: 'LLM_ERROR', message: `upstream rejected ${key}`, detail: { url: 'postgres://app:hunter2@db/x' } },
    });
    const [event] = await events('secret:');
    expect(JSON.stringify(event?.data)).not.toMatch(/hunter2|abcdefghijklmnopqrstuvwxyz012345/);
    expect(event?.data).toMatchObject({ code: 'LLM_ERROR', message: 'upstream rejected [REDACTED]' });
  });
});
