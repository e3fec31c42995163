import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { AuditContentCapture, createPrismaClient, type PrismaService, SpendLedger } from '@atelier/persistence';
import { createTestDatabase, type TestDatabase } from '@atelier/testing';
import { type StepIdentity, StepStore } from './step-store';

const LEASE_MS = 30_000;

// The agent's step statements against real Postgres: what a claim locks and in which
// order, which ends of an attempt count against the retry bound, and the model calls a
// completion settles.
describe(StepStore.name, () => {
  let db: TestDatabase;
  let prisma: PrismaService;
  let store: StepStore;
  let ledger: SpendLedger;

  beforeAll(async () => {
    db = await createTestDatabase('atelier_step_store');
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 4 });
    ledger = new SpendLedger(prisma.pool);
    store = new StepStore(prisma, new AuditContentCapture('none'), ledger);
  });

  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  async function queuedStep(): Promise<StepIdentity> {
    const tenant = await prisma.tenant.create({ data: { name: `t-${randomUUID().slice(0, 8)}` } });
    const task = await prisma.task.create({ data: { tenantId: tenant.id, workflow: 'brief', input: { goal: 'g' } } });
    const step = await prisma.step.create({ data: { taskId: task.id, key: 'investigate', kind: 'research.investigate', agent: 'research', input: { question: 'q' } } });
    return { tenantId: tenant.id, taskId: task.id, stepId: step.id, traceId: 'trace' };
  }

  async function connect(): Promise<Client> {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    return client;
  }

  /** Polls until `count` backends of this database wait on a lock. */
  async function lockWaiters(observer: Client, count: number): Promise<void> {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
      const { rows } = await observer.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
      if (rows[0].n >= count) return;
    }
    throw new Error(`fewer than ${count} backends ever waited on a lock`);
  }

  it('takes the task row before the step row on a first claim, the order the end of a task takes them in, so a cancel racing it cannot deadlock', async () => {
    const id = await queuedStep();
    const [holder, observer] = await Promise.all([connect(), connect()]);
    try {
      // Someone (the end of the task: cancel, deadline) holds the task row.
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM tasks WHERE id = $1 FOR NO KEY UPDATE', [id.taskId]);
      const claiming = store.claim(id, 'research', 'owner-1', LEASE_MS, 5);
      await lockWaiters(observer, 1);
      // The waiting claim holds nothing of the step: the task's end could lock it now.
      await observer.query('BEGIN');
      await expect(observer.query('SELECT 1 FROM steps WHERE id = $1 FOR UPDATE NOWAIT', [id.stepId])).resolves.toMatchObject({ rowCount: 1 });
      await observer.query('ROLLBACK');

      await holder.query(`UPDATE tasks SET status = 'cancelled' WHERE id = $1`, [id.taskId]);
      await holder.query(`UPDATE steps SET status = 'cancelled' WHERE id = $1`, [id.stepId]);
      await holder.query('COMMIT');
      // It never ran, and it says why once it looks again.
      const first = await claiming;
      expect(first.type).not.toBe('claimed');
      await expect(store.claim(id, 'research', 'owner-1', LEASE_MS, 5)).resolves.toEqual({ type: 'stopped' });
      expect(await prisma.step.findUniqueOrThrow({ where: { id: id.stepId } })).toMatchObject({ status: 'CANCELLED', attempt: 0 });
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await Promise.all([holder.end(), observer.end()]);
    }
  });

  it('claims a step of a running task without touching the task row', async () => {
    const id = await queuedStep();
    await prisma.task.update({ where: { id: id.taskId }, data: { status: 'RUNNING' } });
    const holder = await connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM tasks WHERE id = $1 FOR NO KEY UPDATE', [id.taskId]);
      await expect(store.claim(id, 'research', 'owner-1', LEASE_MS, 5)).resolves.toMatchObject({ type: 'claimed', step: { attempt: 1, dispatchSeq: 1 } });
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it('does not count an attempt handed back (shutdown, open breaker) against the retry bound; a released retry counts', async () => {
    const handedBack = await queuedStep();
    const first = await store.claim(handedBack, 'research', 'owner-1', LEASE_MS, 1);
    expect(first).toMatchObject({ type: 'claimed', step: { attempt: 1, attemptsUsed: 1 } });
    await expect(store.endAttempt(handedBack, 'research', 'owner-1', { type: 'handed_back' })).resolves.toEqual({ applied: true, settled: [] });
    // With a bound of one attempt, the step still runs: the hand-back used none.
    await expect(store.claim(handedBack, 'research', 'owner-2', LEASE_MS, 1)).resolves.toMatchObject({ type: 'claimed', step: { attempt: 2, attemptsUsed: 1 } });

    const retried = await queuedStep();
    await store.claim(retried, 'research', 'owner-1', LEASE_MS, 1);
    const error = { code: 'LLM_UNAVAILABLE' as const, message: 'down', retryable: true };
    await expect(store.endAttempt(retried, 'research', 'owner-1', { type: 'released', error })).resolves.toEqual({ applied: true, settled: [] });
    await expect(store.claim(retried, 'research', 'owner-2', LEASE_MS, 1)).resolves.toEqual({ type: 'exhausted', attempts: 1, dispatchSeq: 1 });
  });

  it('reports a finished step with the dispatch its result belongs to', async () => {
    const id = await queuedStep();
    await prisma.step.update({ where: { id: id.stepId }, data: { dispatchSeq: 3 } });
    await store.claim(id, 'research', 'owner-1', LEASE_MS, 5);
    await store.endAttempt(id, 'research', 'owner-1', { type: 'completed', output: { findings: 'F' } });
    await expect(store.claim(id, 'research', 'owner-2', LEASE_MS, 5)).resolves.toEqual({ type: 'finished', status: 'completed', error: null, dispatchSeq: 3 });
  });

  it('ends concurrent attempts together, each by its own lease: only the holder ends a step, once, with one audit event', async () => {
    const [a, b, c] = await Promise.all([queuedStep(), queuedStep(), queuedStep()]);
    for (const [id, owner] of [[a, 'owner-a'], [b, 'owner-b'], [c, 'owner-c']] as const) await store.claim(id, 'research', owner, LEASE_MS, 5);
    const completed = (id: StepIdentity, owner: string, findings: string) => store.endAttempt(id, 'research', owner, { type: 'completed', output: { findings } });

    // Issued together, they share statements; b is ended twice at once and by a stranger.
    const results = await Promise.all([completed(a, 'owner-a', 'A'), completed(b, 'owner-b', 'B'), completed(b, 'owner-b', 'B again'), completed(c, 'stranger', 'C'), completed(b, 'stranger', 'B?')]);

    expect(results.map((result) => result.applied)).toEqual([true, true, false, false, false]);
    const steps = await prisma.step.findMany({ where: { id: { in: [a.stepId, b.stepId, c.stepId] } } });
    const byId = new Map(steps.map((step) => [step.id, step]));
    expect(byId.get(a.stepId)).toMatchObject({ status: 'COMPLETED', output: { findings: 'A' } });
    expect(byId.get(b.stepId)).toMatchObject({ status: 'COMPLETED', output: { findings: 'B' } });
    expect(byId.get(c.stepId)).toMatchObject({ status: 'RUNNING', output: null });
    const events = await prisma.auditEvent.findMany({ where: { action: 'step.completed', subject: { in: [a, b, c].map((id) => `step:${id.stepId}`) } } });
    expect(events.map((event) => [event.subject, event.taskId]).sort()).toEqual([[`step:${a.stepId}`, a.taskId], [`step:${b.stepId}`, b.taskId]].sort());
  });

  it("settles the model calls a completion carries in its own transaction, before the step's event, whether or not the step still takes the end", async () => {
    const [first, mine, lost] = await Promise.all([queuedStep(), queuedStep(), queuedStep()]);
    const reserved = async (id: StepIdentity) => {
      await store.claim(id, 'research', 'owner', LEASE_MS, 5);
      const attemptId = `${id.stepId}:1:1:1`;
      const target = { tenantId: id.tenantId, taskId: id.taskId, stepId: id.stepId };
      await ledger.reserve({ attemptId, target, amountUsd: '0.5', ttlMs: LEASE_MS, model: 'claude-sonnet-5-5', attempt: 1, actor: 'service:research-agent', traceId: 'trace' });
      return attemptId;
    };
    const [firstAttempt, mineAttempt, lostAttempt] = [await reserved(first), await reserved(mine), await reserved(lost)];
    const usage = { inputTokens: 100, outputTokens: 20, cacheCreationInputTokens: 0, cacheCreation1hInputTokens: 0, cacheReadInputTokens: 0 };
    const completion = (findings: string, attemptId: string) =>
      ({ type: 'completed', output: { findings }, settlements: [{ attemptId, outcome: 'success', costUsd: '0.2', usage, latencyMs: 7, requestId: 'req_1' }] }) as const;

    // The first runs alone; the other two share the next statement, the last by a delivery that no longer holds its step.
    const results = await Promise.all([
      store.endAttempt(first, 'research', 'owner', completion('A', firstAttempt)),
      store.endAttempt(mine, 'research', 'owner', completion('F', mineAttempt)),
      store.endAttempt(lost, 'research', 'stranger', completion('X', lostAttempt)),
    ]);

    const settled = [{ settled: true, costUsd: '0.2' }];
    expect(results).toEqual([{ applied: true, settled }, { applied: true, settled }, { applied: false, settled }]);
    const attempts = [firstAttempt, mineAttempt, lostAttempt];
    const calls = await prisma.llmCall.findMany({ where: { attemptId: { in: attempts } } });
    expect(calls.map((call) => [call.attemptId, call.costUsd.toFixed(), call.outcome]).sort()).toEqual(attempts.map((attemptId) => [attemptId, '0.2', 'SUCCESS']).sort());
    const reservations = await prisma.spendReservation.findMany({ where: { attemptId: { in: attempts } } });
    expect(reservations.map((reservation) => reservation.state)).toEqual(['SETTLED', 'SETTLED', 'SETTLED']);
    const { rows } = await prisma.pool.query<{ action: string; tx_id: string }>(`SELECT action, tx_id::text FROM audit_events WHERE subject = $1 ORDER BY seq`, [`step:${mine.stepId}`]);
    expect(rows.map((row) => row.action)).toEqual(['step.started', 'llm.call', 'step.completed']);
    expect(rows[1]?.tx_id).toBe(rows[2]?.tx_id);
    expect(await prisma.step.findUniqueOrThrow({ where: { id: lost.stepId } })).toMatchObject({ status: 'RUNNING', output: null });
  });

  it('claims concurrent deliveries together, each on its own terms: one claim per step, its task started, one step.started each', async () => {
    const [lone, first, second, cancelled] = await Promise.all([queuedStep(), queuedStep(), queuedStep(), queuedStep()]);
    await prisma.task.update({ where: { id: cancelled.taskId }, data: { status: 'CANCELLED' } });
    const claim = (id: StepIdentity, owner: string) => store.claim(id, 'research', owner, LEASE_MS, 5);

    // The first runs alone; the rest arrive while it runs and share statements.
    const claims = await Promise.all([
      claim(lone, 'owner-0'),
      claim(first, 'owner-1'),
      claim(second, 'owner-2'),
      claim(first, 'owner-3'),
      claim({ ...second, stepId: randomUUID() }, 'owner-4'),
      claim(cancelled, 'owner-5'),
    ]);

    expect(claims.map((outcome) => outcome.type)).toEqual(['claimed', 'claimed', 'claimed', 'busy', 'missing', 'stopped']);
    expect(claims[1]).toMatchObject({ step: { key: 'investigate', attempt: 1, input: { question: 'q' } } });
    const steps = await prisma.step.findMany({ where: { id: { in: [first.stepId, second.stepId, cancelled.stepId] } } });
    expect(new Map(steps.map((step) => [step.id, [step.status, step.leaseOwner, step.attempt]]))).toEqual(
      new Map([
        [first.stepId, ['RUNNING', 'owner-1', 1]],
        [second.stepId, ['RUNNING', 'owner-2', 1]],
        [cancelled.stepId, ['QUEUED', null, 0]],
      ]),
    );
    const tasks = await prisma.task.findMany({ where: { id: { in: [first.taskId, second.taskId] } } });
    expect(tasks.map((task) => task.status)).toEqual(['RUNNING', 'RUNNING']);
    const started = await prisma.auditEvent.findMany({ where: { action: 'step.started', taskId: { in: [first.taskId, second.taskId, cancelled.taskId] } } });
    expect(started.map((event) => [event.subject, event.tenantId, event.traceId]).sort()).toEqual(
      [[`step:${first.stepId}`, first.tenantId, 'trace'], [`step:${second.stepId}`, second.tenantId, 'trace']].sort(),
    );
  });
});
