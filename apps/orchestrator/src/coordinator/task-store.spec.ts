import { randomUUID } from 'node:crypto';
import { createPrismaClient, type PrismaService } from '@atelier/persistence';
import { createTestDatabase, type TestDatabase } from '@atelier/testing';
import { outputDigest, type PlanPremise, type StepToInsert, type TaskSnapshot, TaskStore } from './task-store';

// The coordinator's statements against real Postgres, as the results of many tasks reach
// it at once: concurrent loads, advances and ends share statements, and each still takes
// effect only at the version it was planned from.
describe(TaskStore.name, () => {
  let db: TestDatabase;
  let prisma: PrismaService;
  let store: TaskStore;

  beforeAll(async () => {
    db = await createTestDatabase('atelier_task_store');
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 4 });
    store = new TaskStore(prisma);
  });

  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  async function runningTask(): Promise<TaskSnapshot> {
    const tenant = await prisma.tenant.create({ data: { name: `t-${randomUUID().slice(0, 8)}` } });
    const task = await prisma.task.create({ data: { tenantId: tenant.id, workflow: 'brief', input: { goal: 'g' }, status: 'RUNNING' } });
    await prisma.step.create({ data: { taskId: task.id, key: 'investigate', kind: 'research.investigate', agent: 'research', input: {}, status: 'RUNNING' } });
    const loaded = await store.load(task.id);
    if (!loaded) throw new Error(`task ${task.id} was just created but does not load`);
    return loaded;
  }

  const draft = (): StepToInsert => ({ id: randomUUID(), key: 'draft', kind: 'writer.draft', agent: 'writer', dependsOn: ['investigate'], input: { findings: 'F' } });
  const queuedEvent = (task: TaskSnapshot, stepId: string) => ({ actor: 'service:orchestrator' as const, action: 'step.queued' as const, subject: `step:${stepId}`, tenantId: task.tenantId, taskId: task.id, traceId: null, data: {} });
  const failedEnd = (task: TaskSnapshot) => ({
    status: 'failed' as const,
    result: { partial: true },
    error: { code: 'STEP_FAILED' },
    audit: { actor: 'service:orchestrator' as const, action: 'task.failed' as const, subject: `task:${task.id}`, tenantId: task.tenantId, taskId: task.id, traceId: null, data: { status: 'failed' } },
  });

  it('loads concurrent tasks together, each with its own steps, and answers a missing one with nothing', async () => {
    const [a, b] = await Promise.all([runningTask(), runningTask()]);
    const [first, second, third, missing] = await Promise.all([store.load(a.id), store.load(b.id), store.load(a.id.toUpperCase()), store.load(randomUUID())]);
    expect(first).toMatchObject({ id: a.id, status: 'running', steps: [{ key: 'investigate', status: 'running' }] });
    expect(second).toMatchObject({ id: b.id, tenantId: b.tenantId });
    expect(third?.id).toBe(a.id);
    expect(missing).toBeUndefined();
  });

  it('advances concurrent tasks together, each only at the version it was planned from', async () => {
    const [a, b, stale] = await Promise.all([runningTask(), runningTask(), runningTask()]);
    await prisma.task.update({ where: { id: stale.id }, data: { version: { increment: 1 } } });
    const [stepA, stepA2, stepB, stepStale] = [draft(), draft(), draft(), draft()];

    // The first goes alone, the rest together; a's second plan (another replica's) reads the same version.
    const applied = await Promise.all([
      store.insertSteps(b, [stepB], [queuedEvent(b, stepB.id)]),
      store.insertSteps(a, [stepA], [queuedEvent(a, stepA.id)]),
      store.insertSteps(a, [stepA2], [queuedEvent(a, stepA2.id)]),
      store.insertSteps(stale, [stepStale], [queuedEvent(stale, stepStale.id)]),
    ]);

    expect(applied).toEqual([true, true, false, false]);
    const drafts = await prisma.step.findMany({ where: { taskId: { in: [a.id, b.id, stale.id] }, key: 'draft' } });
    expect(drafts.map((step) => step.id).sort()).toEqual([stepA.id, stepB.id].sort());
    const versions = await prisma.task.findMany({ where: { id: { in: [a.id, b.id, stale.id] } }, select: { id: true, version: true } });
    expect(new Map(versions.map((task) => [task.id, task.version]))).toEqual(new Map([[a.id, a.version + 1], [b.id, b.version + 1], [stale.id, stale.version + 1]]));
    const queued = await prisma.auditEvent.findMany({ where: { action: 'step.queued', taskId: { in: [a.id, b.id, stale.id] } } });
    expect(queued.map((event) => event.subject).sort()).toEqual([`step:${stepA.id}`, `step:${stepB.id}`].sort());
  });

  it("writes a plan made without reading the task back only while its premise holds: the same steps at the same stages, the reported output's digest in the row", async () => {
    const findings = { findings: 'F' };
    const completedTask = async (): Promise<TaskSnapshot> => {
      const task = await runningTask();
      // As an agent ends the step: the output and the digest of the JSON text it was written from.
      await prisma.step.update({ where: { id: task.steps[0]?.id }, data: { status: 'COMPLETED', output: findings, outputSha256: outputDigest(findings) } });
      return task;
    };
    const [holds, otherOutput, extraStep, otherStage, endHolds, endOtherOutput] = await Promise.all([completedTask(), completedTask(), completedTask(), completedTask(), completedTask(), completedTask()]);
    const premiseOf = (task: TaskSnapshot, output: unknown = findings, stages: Record<string, string> = {}): PlanPremise => {
      const investigate = task.steps[0]?.id as string;
      return { steps: { [investigate]: 'completed', ...stages }, reported: { id: investigate, outputSha256: outputDigest(output) } };
    };
    // Another replica inserted a step this plan knows nothing of (without a version of its own, to isolate the premise).
    await prisma.step.create({ data: { taskId: extraStep.id, key: 'other', kind: 'research.investigate', agent: 'research', input: {} } });
    // A sibling the plan took for running has failed meanwhile.
    const sibling = await prisma.step.create({ data: { taskId: otherStage.id, key: 'sibling', kind: 'research.investigate', agent: 'research', input: {}, status: 'FAILED' } });

    const [drafts, ends] = await Promise.all([
      Promise.all(
        [
          [holds, premiseOf(holds)],
          [otherOutput, premiseOf(otherOutput, { findings: 'not what the row holds' })],
          [extraStep, premiseOf(extraStep)],
          [otherStage, premiseOf(otherStage, findings, { [sibling.id]: 'active' })],
        ].map(([task, premise]) => {
          const step = draft();
          return store.insertSteps(task as TaskSnapshot, [step], [queuedEvent(task as TaskSnapshot, step.id)], premise as PlanPremise);
        }),
      ),
      Promise.all([store.end(endHolds, failedEnd(endHolds), premiseOf(endHolds)), store.end(endOtherOutput, failedEnd(endOtherOutput), premiseOf(endOtherOutput, {}))]),
    ]);

    expect(drafts).toEqual([true, false, false, false]);
    expect(ends).toEqual([true, false]);
    const inserted = await prisma.step.findMany({ where: { key: 'draft', taskId: { in: [holds, otherOutput, extraStep, otherStage].map((task) => task.id) } } });
    expect(inserted.map((step) => step.taskId)).toEqual([holds.id]);
    const statuses = await prisma.task.findMany({ where: { id: { in: [endHolds.id, endOtherOutput.id] } }, select: { id: true, status: true } });
    expect(new Map(statuses.map((task) => [task.id, task.status]))).toEqual(new Map([[endHolds.id, 'FAILED'], [endOtherOutput.id, 'RUNNING']]));
  });

  it('ends concurrent tasks together, cancelling the unfinished steps of each and naming them in its own event', async () => {
    const [a, b, moved] = await Promise.all([runningTask(), runningTask(), runningTask()]);
    await prisma.step.create({ data: { taskId: b.id, key: 'second', kind: 'research.investigate', agent: 'research', input: {} } });
    await prisma.task.update({ where: { id: moved.id }, data: { version: { increment: 1 } } });

    const ended = await Promise.all([store.end(a, failedEnd(a)), store.end(b, failedEnd(b)), store.end(a, failedEnd(a)), store.end(moved, failedEnd(moved))]);

    expect(ended).toEqual([true, true, false, false]);
    const tasks = await prisma.task.findMany({ where: { id: { in: [a.id, b.id, moved.id] } }, select: { id: true, status: true } });
    expect(new Map(tasks.map((task) => [task.id, task.status]))).toEqual(new Map([[a.id, 'FAILED'], [b.id, 'FAILED'], [moved.id, 'RUNNING']]));
    const steps = await prisma.step.findMany({ where: { taskId: { in: [a.id, b.id, moved.id] } }, select: { taskId: true, key: true, status: true } });
    expect(steps.filter((step) => step.status === 'CANCELLED').map((step) => `${step.taskId === a.id ? 'a' : 'b'}:${step.key}`).sort()).toEqual(['a:investigate', 'b:investigate', 'b:second']);
    expect(steps.find((step) => step.taskId === moved.id)?.status).toBe('RUNNING');
    const events = await prisma.auditEvent.findMany({ where: { action: 'task.failed', taskId: { in: [a.id, b.id, moved.id] } } });
    expect(new Map(events.map((event) => [event.taskId, (event.data as { stoppedSteps: string[] }).stoppedSteps]))).toEqual(
      new Map([
        [a.id, ['investigate']],
        [b.id, ['investigate', 'second']],
      ]),
    );
  });
});
