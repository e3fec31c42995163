import { taskPlannedEvent } from './task-planned-event';

describe(taskPlannedEvent.name, () => {
  const common = { actor: 'service:orchestrator' as const, tenantId: 'tenant-1', traceId: 'trace-1', taskId: 'task-1' };
  const investigations = [1, 2, 3].map((n) => ({ key: `investigate.${n}`, kind: 'research.investigate' as const, dependsOn: ['plan'] }));

  it('records the steps a completed plan made: their keys, kinds and count', () => {
    expect(taskPlannedEvent([{ key: 'plan', kind: 'research.plan', status: 'completed' }], investigations, common)).toEqual({
      ...common,
      action: 'task.planned',
      subject: 'task:task-1',
      data: {
        planStep: 'plan',
        count: 3,
        steps: investigations.map(({ key, kind }) => ({ key, kind })),
      },
    });
  });

  it('records nothing for steps that do not follow a plan (the first steps, a draft after investigations)', () => {
    expect(taskPlannedEvent([], [{ key: 'plan', kind: 'research.plan', dependsOn: [] }], common)).toBeUndefined();
    const done = [
      { key: 'plan', kind: 'research.plan' as const, status: 'completed' },
      ...investigations.map(({ key, kind }) => ({ key, kind, status: 'completed' })),
    ];
    expect(taskPlannedEvent(done, [{ key: 'draft', kind: 'writer.draft', dependsOn: investigations.map((step) => step.key) }], common)).toBeUndefined();
  });
});
