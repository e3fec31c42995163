import { randomUUID } from 'node:crypto';
import { auditJson, createPrismaClient, type PrismaService } from '@atelier/persistence';
import { createTestDatabase, type TestDatabase } from '@atelier/testing';
import { stepRowsJson } from '../coordinator/step-rows';
import { type DefaultTenantBudget, type NewTask, NewTaskStore } from './new-task-store';

// Submitted tasks written to real Postgres: a burst of submits shares statements, and each
// still gets exactly what a submit alone would (its task, steps, budget and events, a
// tenant's default budget once, an Idempotency-Key honoured).
describe(NewTaskStore.name, () => {
  let db: TestDatabase;
  let prisma: PrismaService;
  let store: NewTaskStore;
  const tenants: Record<'acme' | 'globex' | 'initech', string> = { acme: '', globex: '', initech: '' };
  const tenantDefault: DefaultTenantBudget = { ATELIER_DEFAULT_TENANT_BUDGET_USD: '5', ATELIER_DEFAULT_TENANT_BUDGET_PERIOD: 'day' };

  beforeAll(async () => {
    db = await createTestDatabase('atelier_new_task_store');
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 2 });
    store = new NewTaskStore(prisma, tenantDefault);
    for (const name of Object.keys(tenants) as (keyof typeof tenants)[]) {
      const { rows } = await prisma.pool.query<{ id: string }>('INSERT INTO tenants (name) VALUES ($1) RETURNING id', [name]);
      tenants[name] = rows[0]?.id as string;
    }
    // initech's admin set a budget already: the default must not replace it.
    await prisma.pool.query(`INSERT INTO budgets (scope, scope_key, tenant_id, period, limit_usd) VALUES ('tenant', $1, $2, 'month', 50)`, [`tenant:${tenants.initech}`, tenants.initech]);
  });

  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  const newTask = (tenant: keyof typeof tenants, overrides: Partial<NewTask> = {}): NewTask => {
    const id = randomUUID();
    const stepId = randomUUID();
    const tenantId = tenants[tenant];
    return {
      id,
      tenantId,
      workflow: 'brief',
      input: JSON.stringify({ goal: `goal of ${id}` }),
      metadata: null,
      budgetUsd: null,
      deadlineSeconds: null,
      idempotencyKey: null,
      requestHash: 'a'.repeat(64),
      traceId: null,
      responseCache: true,
      steps: stepRowsJson([{ id: stepId, key: 'investigate', kind: 'research.investigate', agent: 'research', dependsOn: [], input: { question: id } }]),
      events: auditJson([
        { actor: 'service:orchestrator', action: 'task.submitted', subject: `task:${id}`, tenantId, taskId: id, data: {} },
        { actor: 'service:orchestrator', action: 'step.queued', subject: `step:${stepId}`, tenantId, taskId: id, data: {} },
      ]),
      ...overrides,
    };
  };

  it('writes a burst of submits in few statements, each task as if alone', async () => {
    const burst = [
      newTask('acme'),
      newTask('acme', { budgetUsd: '2.5', deadlineSeconds: 60 }),
      newTask('globex', { idempotencyKey: 'same-key' }),
      newTask('acme', { idempotencyKey: 'same-key' }),
      newTask('acme', { idempotencyKey: 'same-key' }),
      newTask('initech'),
    ];
    const statements = jest.spyOn(prisma.pool, 'query');
    const created = await Promise.all(burst.map((task) => store.insert(task)));
    // The first ran alone; the rest went together, but for the repeated key, which went next.
    expect(statements).toHaveBeenCalledTimes(3);
    statements.mockRestore();

    // The same key is another tenant's own; acme's second use of it found its first.
    expect(created).toEqual([true, true, true, true, false, true]);
    const written = burst.filter((_, index) => created[index]);
    const taskRows = await prisma.pool.query(`SELECT id, budget_usd::text, deadline_at IS NOT NULL AS has_deadline FROM tasks ORDER BY id`);
    expect(taskRows.rows).toEqual(
      written
        .map((task) => ({ id: task.id, budget_usd: task.budgetUsd === null ? null : '2.500000000000', has_deadline: task.deadlineSeconds !== null }))
        .sort((a, b) => a.id.localeCompare(b.id)),
    );
    const steps = await prisma.pool.query<{ task_id: string }>('SELECT task_id FROM steps');
    expect(steps.rows.map((row) => row.task_id).sort()).toEqual(written.map((task) => task.id).sort());

    // A task budget for the task that asked for one; the default once for each tenant that had none.
    const budgets = await prisma.pool.query(`SELECT scope, scope_key, period, limit_usd::text AS limit FROM budgets ORDER BY scope_key COLLATE "C"`);
    expect(budgets.rows).toEqual(
      [
        { scope: 'task', scope_key: `task:${(burst[1] as NewTask).id}`, period: 'total', limit: '2.500000000000' },
        { scope: 'tenant', scope_key: `tenant:${tenants.acme}`, period: 'day', limit: '5.000000000000' },
        { scope: 'tenant', scope_key: `tenant:${tenants.globex}`, period: 'day', limit: '5.000000000000' },
        { scope: 'tenant', scope_key: `tenant:${tenants.initech}`, period: 'month', limit: '50.000000000000' },
      ].sort((a, b) => (a.scope_key < b.scope_key ? -1 : 1)),
    );

    // Each created budget audited once, before its tenant's first task; each written task's events, in order.
    const events = await prisma.pool.query<{ action: string; subject: string; tenant_id: string; task_id: string | null }>('SELECT action, subject, tenant_id, task_id FROM audit_events ORDER BY seq');
    const budgetEvents = events.rows.filter((event) => event.action === 'budget.updated');
    expect(budgetEvents.map((event) => event.tenant_id).sort()).toEqual([tenants.acme, tenants.globex].sort());
    for (const event of budgetEvents) {
      const firstTaskEvent = events.rows.findIndex((row) => row.tenant_id === event.tenant_id && row.task_id !== null);
      expect(events.rows.indexOf(event)).toBeLessThan(firstTaskEvent);
    }
    const taskEvents = events.rows.filter((event) => event.task_id !== null);
    expect(taskEvents).toHaveLength(written.length * 2);
    for (const task of written) {
      expect(taskEvents.filter((event) => event.task_id === task.id).map((event) => event.action)).toEqual(['task.submitted', 'step.queued']);
    }

    // Later submits of a tenant with its default budget add none.
    expect(await store.insert(newTask('acme'))).toBe(true);
    expect((await prisma.pool.query(`SELECT count(*)::int AS n FROM budgets WHERE scope = 'tenant'`)).rows).toEqual([{ n: 3 }]);
  });
});
