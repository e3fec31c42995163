import { ListBudgetsQuery, MAX_GOAL_LENGTH, PutBudgetRequest, SubmitTaskRequest, UsageQuery } from './api';

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

describe('PutBudgetRequest', () => {
  it.each([
    [{ scope: 'global', period: 'month', limitUsd: '100' }],
    [{ scope: 'tenant', tenant: 'acme', period: 'day', limitUsd: 0, alertThresholds: [25, 75] }],
    [{ scope: 'task', taskId: '7d1f0d2e-3c7a-4b1e-9a55-0f2f6f1c9a10', period: 'total', limitUsd: '0.25' }],
  ])('accepts %j', (body) => {
    expect(PutBudgetRequest.safeParse(body).success).toBe(true);
  });

  it.each([
    ['a tenant budget without its tenant', { scope: 'tenant', period: 'day', limitUsd: '1' }, ['tenant']],
    ['a global budget naming a tenant', { scope: 'global', tenant: 'acme', period: 'day', limitUsd: '1' }, ['tenant']],
    ['a task budget per day', { scope: 'task', taskId: '7d1f0d2e-3c7a-4b1e-9a55-0f2f6f1c9a10', period: 'day', limitUsd: '1' }, ['period']],
    ['a negative or float-ish limit', { scope: 'global', period: 'total', limitUsd: '1e3' }, ['limitUsd']],
    ['a repeated or out-of-range threshold', { scope: 'global', period: 'total', limitUsd: '1', alertThresholds: [50, 50, 150] }, ['alertThresholds.2', 'alertThresholds']],
    ['an unknown period', { scope: 'global', period: 'week', limitUsd: '1' }, ['period']],
  ])('rejects %s', (_name, body, fields) => {
    const parsed = PutBudgetRequest.safeParse(body);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.path.join('.'))).toEqual(expect.arrayContaining(fields));
  });
});

describe('budget and usage queries', () => {
  it('defaults and bounds the pagination and grouping', () => {
    expect(ListBudgetsQuery.parse({})).toEqual({ limit: 50 });
    expect(UsageQuery.parse({ from: '2026-11-01', to: '2026-11-23T12:00:00Z' })).toEqual({ groupBy: 'model', from: '2026-11-01', to: '2026-11-23T12:00:00Z', limit: 100 });
    expect(UsageQuery.safeParse({ groupBy: 'week' }).success).toBe(false);
    expect(UsageQuery.safeParse({ from: '2026-11-23', to: '2026-11-01' }).error?.issues[0]?.path).toEqual(['from']);
    expect(ListBudgetsQuery.safeParse({ limit: '500' }).success).toBe(false);
  });

  it('lets a task opt out of the response cache', () => {
    expect(SubmitTaskRequest.parse({ input: { goal: 'x' }, responseCache: false })).toMatchObject({ responseCache: false });
    expect(SubmitTaskRequest.safeParse({ input: { goal: 'x' }, responseCache: 'no' }).success).toBe(false);
  });
});

describe('money in requests (numeric(24,12), never a float)', () => {
  // What JSON.parse makes of the literal 1234567.123456789012: the double 1234567.123456789.
  const parsedLossyLiteral = Number('1234567.123456789012');

  const limitOf = (limitUsd: unknown) => PutBudgetRequest.safeParse({ scope: 'global', period: 'total', limitUsd });

  it('keeps a decimal string exactly, to the 12th decimal and the 12th integer digit', () => {
    expect(limitOf('1234567.123456789012').data?.limitUsd).toBe('1234567.123456789012');
    expect(limitOf(' 999999999999.999999999999 ').data?.limitUsd).toBe('999999999999.999999999999');
  });

  it('takes a JSON number only when it is certainly the amount written', () => {
    expect(limitOf(2.5).data?.limitUsd).toBe('2.5');
    expect(limitOf(0.1).data?.limitUsd).toBe('0.1');
    expect(limitOf(123456789012.345).data?.limitUsd).toBe('123456789012.345');
    expect(limitOf(0).data?.limitUsd).toBe('0');
  });

  it.each([
    ['a number a double cannot carry (silently 1234567.123456789)', parsedLossyLiteral],
    ['a number with 16 significant digits', 1234.567890123456],
    ['a number in exponent form', 1e-7],
    ['a number above the column', 1e13],
    ['a string with 13 decimals', '0.1234567890123'],
    ['a string with 13 integer digits', '1234567890123'],
    ['an exponent string', '1e3'],
    ['a negative number', -1],
    ['not a number', Number.NaN],
  ])('refuses %s naming the field', (_name, limitUsd) => {
    const parsed = limitOf(limitUsd);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['limitUsd']);
  });

  it('refuses a budgetUsd number that would change on its way in', () => {
    const parsed = SubmitTaskRequest.safeParse({ input: { goal: 'x' }, budgetUsd: parsedLossyLiteral });
    expect(parsed.error?.issues[0]).toMatchObject({ path: ['budgetUsd'], message: expect.stringContaining('decimal string') });
  });
});

describe('cursors and dates in queries', () => {
  it('takes only a budget id (UUID) as the budgets cursor', () => {
    expect(ListBudgetsQuery.safeParse({ cursor: '7d1f0d2e-3c7a-4b1e-9a55-0f2f6f1c9a10' }).success).toBe(true);
    for (const cursor of ['000000000000000000000000000000000000', '7d1f0d2e3c7a4b1e9a550f2f6f1c9a10----', 'zzz']) {
      expect(ListBudgetsQuery.safeParse({ cursor }).error?.issues.map((issue) => issue.path.join('.'))).toEqual(['cursor']);
    }
  });

  it.each([['0000-01-01'], ['1969-12-31'], ['9999-12-31T23:59:59-10:00'], ['2026-02-30']])('refuses the usage bound %s naming the field', (from) => {
    expect(UsageQuery.safeParse({ from }).error?.issues.map((issue) => issue.path.join('.'))).toEqual(['from']);
    expect(UsageQuery.safeParse({ to: from }).error?.issues.map((issue) => issue.path.join('.'))).toEqual(['to']);
  });

  it('takes the whole supported range', () => {
    expect(UsageQuery.safeParse({ from: '1970-01-01', to: '9999-12-31T23:59:59Z' }).success).toBe(true);
  });
});
