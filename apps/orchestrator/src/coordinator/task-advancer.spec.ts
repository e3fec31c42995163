import { randomUUID } from 'node:crypto';
import { createPrismaClient, type PrismaService } from '@atelier/persistence';
import { createTestDatabase, type TestDatabase } from '@atelier/testing';
import { TaskAdvancer } from './task-advancer.service';
import { queuedStep, TaskSnapshots } from './task-snapshots';
import { outputDigest, TaskStore } from './task-store';

// A step result that carries its output is planned from the task as this replica last
// wrote it, without reading it back, and only written if the rows still say the same;
// anything else is planned from the rows (real Postgres, the `brief` workflow).
describe(TaskAdvancer.name, () => {
  let db: TestDatabase;
  let prisma: PrismaService;
  let store: TaskStore;

  beforeAll(async () => {
    db = await createTestDatabase('atelier_task_advancer');
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 4 });
    store = new TaskStore(prisma);
  });

  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  // Each test's replica: what it keeps, its advancer, and its reads of a task (counted).
  let snapshots: TaskSnapshots;
  let advancer: TaskAdvancer;
  let load: jest.SpiedFunction<TaskStore['load']>;

  beforeEach(() => {
    snapshots = new TaskSnapshots();
    advancer = new TaskAdvancer(store, snapshots);
    load = jest.spyOn(store, 'load');
  });

  afterEach(() => load.mockRestore());

  /** A brief task whose investigation completed with `output`, kept by `kept` as its submit wrote it (the step queued). */
  async function investigated(kept: TaskSnapshots, output: unknown) {
    const tenant = await prisma.tenant.create({ data: { name: `t-${randomUUID().slice(0, 8)}` } });
    const task = await prisma.task.create({ data: { tenantId: tenant.id, workflow: 'brief', input: { goal: 'Tidal power' }, status: 'RUNNING' } });
    const step = { id: randomUUID(), key: 'investigate', kind: 'research.investigate' as const, agent: 'research' as const, dependsOn: [], input: { goal: 'Tidal power', question: 'Tidal power' } };
    await prisma.step.create({ data: { id: step.id, taskId: task.id, key: step.key, kind: step.kind, agent: step.agent, input: step.input, status: 'COMPLETED', output: output as object, outputSha256: outputDigest(output) } });
    kept.keep({ id: task.id, tenantId: tenant.id, workflow: 'brief', status: 'queued', input: { goal: 'Tidal power' }, version: 0, traceId: null, deadlineAt: null, steps: [queuedStep(step)] });
    return { taskId: task.id, stepId: step.id };
  }

  async function draftInput(taskId: string) {
    const draft = await prisma.step.findUnique({ where: { taskId_key: { taskId, key: 'draft' } } });
    return draft?.input;
  }

  it('plans a reported completion from the task it keeps, without reading the task back, and keeps the task as written', async () => {
    const { taskId, stepId } = await investigated(snapshots, { findings: 'Tides are predictable.' });

    const advance = await advancer.advance(taskId, undefined, { stepId, output: { findings: 'Tides are predictable.' } });

    expect(load).not.toHaveBeenCalled();
    expect(advance.toDispatch).toEqual([expect.objectContaining({ taskId, kind: 'writer.draft', dispatchSeq: 1 })]);
    expect(await draftInput(taskId)).toEqual({ goal: 'Tidal power', findings: ['Tides are predictable.'] });
    expect(snapshots.get(taskId)).toMatchObject({ version: 1, steps: [{ id: stepId, status: 'completed' }, { key: 'draft', status: 'queued' }] });
  });

  it('plans from the rows when the reported output is not what the step row holds', async () => {
    const { taskId, stepId } = await investigated(snapshots, { findings: 'From the row.' });

    const advance = await advancer.advance(taskId, undefined, { stepId, output: { findings: 'From a stale or forged message.' } });

    expect(load).toHaveBeenCalledTimes(1);
    expect(advance.toDispatch).toHaveLength(1);
    expect(await draftInput(taskId)).toEqual({ goal: 'Tidal power', findings: ['From the row.'] });
  });

  it('plans from the rows when it keeps no such task, or the report is one the kept task already has', async () => {
    const { taskId, stepId } = await investigated(new TaskSnapshots(), { findings: 'Kept elsewhere.' });

    await advancer.advance(taskId, undefined, { stepId, output: { findings: 'Kept elsewhere.' } });
    expect(load).toHaveBeenCalledTimes(1);
    expect(await draftInput(taskId)).toEqual({ goal: 'Tidal power', findings: ['Kept elsewhere.'] });

    // The load kept the task with the draft queued; the same report again is a replay: the rows decide (nothing new).
    const replay = await advancer.advance(taskId, undefined, { stepId, output: { findings: 'Kept elsewhere.' } });
    expect(load).toHaveBeenCalledTimes(2);
    expect(replay.toDispatch).toEqual([expect.objectContaining({ kind: 'writer.draft' })]); // still unconfirmed: published again, de-duplicated by the broker
    expect(await prisma.step.count({ where: { taskId } })).toBe(2);
  });

  it('fires no join on the report of a fan-out member while another member is under way', async () => {
    const tenant = await prisma.tenant.create({ data: { name: `t-${randomUUID().slice(0, 8)}` } });
    const task = await prisma.task.create({ data: { tenantId: tenant.id, workflow: 'research-report', input: { goal: 'Tidal power' }, status: 'RUNNING', version: 1 } });
    const member = (n: number) => ({ id: randomUUID(), key: `investigate.${n}`, kind: 'research.investigate' as const, agent: 'research' as const, dependsOn: ['plan'], input: { goal: 'Tidal power', question: `Q${n}` } });
    const [first, second] = [member(1), member(2)];
    const plan = { id: randomUUID(), key: 'plan', kind: 'research.plan' as const, agent: 'research' as const, dependsOn: [], input: { goal: 'Tidal power' } };
    await prisma.step.create({ data: { id: plan.id, taskId: task.id, key: plan.key, kind: plan.kind, agent: plan.agent, input: plan.input, status: 'COMPLETED', output: { questions: ['Q1', 'Q2'] } } });
    for (const step of [first, second]) await prisma.step.create({ data: { id: step.id, taskId: task.id, key: step.key, kind: step.kind, agent: step.agent, input: step.input, dependsOn: step.dependsOn } });
    await prisma.step.update({ where: { id: first.id }, data: { status: 'COMPLETED', output: { findings: 'F1' }, outputSha256: outputDigest({ findings: 'F1' }) } });
    snapshots.keep({
      id: task.id,
      tenantId: tenant.id,
      workflow: 'research-report',
      status: 'running',
      input: { goal: 'Tidal power' },
      version: 1,
      traceId: null,
      deadlineAt: null,
      steps: [{ ...queuedStep(plan), status: 'completed', output: { questions: ['Q1', 'Q2'] } }, queuedStep(first), queuedStep(second)],
    });

    const advance = await advancer.advance(task.id, undefined, { stepId: first.id, output: { findings: 'F1' } });

    expect(load).toHaveBeenCalledTimes(1);
    expect(advance.finished).toBeUndefined();
    expect(await draftInput(task.id)).toBeUndefined();
  });

  it('leaves a plan that fails the task to the rows', async () => {
    // An output the workflow cannot use fails the task (INVALID_OUTPUT): decided on what the rows say, not on a message.
    const { taskId, stepId } = await investigated(snapshots, { unexpected: true });

    const advance = await advancer.advance(taskId, undefined, { stepId, output: { unexpected: true } });

    expect(load).toHaveBeenCalledTimes(1);
    expect(advance.finished?.status).toBe('failed');
    expect(snapshots.get(taskId)).toBeUndefined();
  });
});
