import { MAX_GOAL_LENGTH, SubmitTaskRequest } from './api';

describe('SubmitTaskRequest', () => {
  it('defaults the workflow and normalises the budget to a decimal string', () => {
    expect(SubmitTaskRequest.parse({ input: { goal: ' Batteries ' }, budgetUsd: 2.5 })).toEqual({
      workflow: 'research-report',
      input: { goal: 'Batteries' },
      budgetUsd: '2.5',
    });
  });

  it.each([
    ['an empty goal', { input: { goal: '   ' } }, 'input.goal'],
    ['an over-long goal', { input: { goal: 'x'.repeat(MAX_GOAL_LENGTH + 1) } }, 'input.goal'],
    ['an unknown field', { input: { goal: 'x' }, priority: 'high' }, ''],
    ['a negative budget', { input: { goal: 'x' }, budgetUsd: '-1' }, 'budgetUsd'],
    ['a float-ish budget with too many decimals', { input: { goal: 'x' }, budgetUsd: '0.1234567890123' }, 'budgetUsd'],
    ['an unknown workflow', { workflow: 'mine', input: { goal: 'x' } }, 'workflow'],
  ])('rejects %s', (_name, body, field) => {
    const parsed = SubmitTaskRequest.safeParse(body);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.path.join('.'))).toContain(field);
  });
});
