import { randomUUID } from 'node:crypto';
import Decimal from 'decimal.js';
import { Registry } from 'prom-client';
import { LlmCallError, promptTokensUpperBound, UnknownModelError } from '@atelier/llm';
import { createLogger, metricsCatalog } from '@atelier/observability';
import { AuditContentCapture, createPrismaClient, type PrismaService, readBudgetBalances, SpendLedger } from '@atelier/persistence';
import { createTestDatabase, type LlmSimulatorProcess, startLlmSimulator, type TestDatabase } from '@atelier/testing';
import { type AgentConfig, loadAgentConfig } from './agent-config';
import { LlmClient } from './llm-client';
import { attemptIdFor, ModelCaller, type ModelCallScope } from './model-caller';
import { StepFailure } from './step-handler';

// One model call's path against real Postgres and the simulator through the real SDK:
// what is reserved, what is billed, and what the ledger says, for every way a call ends.
describe(ModelCaller.name, () => {
  let db: TestDatabase;
  let prisma: PrismaService;
  let simulator: LlmSimulatorProcess;
  let config: AgentConfig;
  let caller: ModelCaller;

  beforeAll(async () => {
    [db, simulator] = await Promise.all([createTestDatabase('atelier_model_caller'), startLlmSimulator()]);
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 4 });
    config = loadAgentConfig({ DATABASE_URL: db.url, LLM_MODE: 'simulator', ANTHROPIC_BASE_URL: simulator.url, LLM_TIMEOUT_MS: '1000', LLM_RESPONSE_CACHE_TTL_SECONDS: '0' });
    caller = new ModelCaller({ agent: 'research', handlers: {} }, config, new LlmClient(config), new SpendLedger(prisma.pool), prisma, new AuditContentCapture('redacted'), createLogger({ service: 'test', level: 'silent' }), metricsCatalog(new Registry()));
  });

  afterAll(async () => {
    await prisma?.$disconnect();
    await Promise.all([simulator?.stop(), db?.drop()]);
  });

  async function scopeWithBudget(limitUsd = '1'): Promise<ModelCallScope> {
    const tenant = await prisma.tenant.create({ data: { name: `t-${randomUUID().slice(0, 8)}` } });
    const task = await prisma.task.create({ data: { tenantId: tenant.id, workflow: 'research-report', input: { goal: 'g' } } });
    const step = await prisma.step.create({ data: { taskId: task.id, key: 'investigate', kind: 'research.investigate', agent: 'research', input: {}, attempt: 1 } });
    await prisma.budget.create({ data: { scope: 'TASK', scopeKey: `task:${task.id}`, tenantId: tenant.id, taskId: task.id, period: 'TOTAL', limitUsd } });
    return { id: { tenantId: tenant.id, taskId: task.id, stepId: step.id, traceId: 'trace' }, kind: 'research.investigate', attempt: 1, callIndex: 1 };
  }

  const ledgerOf = async (scope: ModelCallScope) => {
    const [reservation, call, budget] = await Promise.all([
      prisma.spendReservation.findFirstOrThrow({ where: { stepId: scope.id.stepId } }),
      prisma.llmCall.findFirst({ where: { stepId: scope.id.stepId } }),
      prisma.budget.findFirstOrThrow({ where: { taskId: scope.id.taskId } }),
    ]);
    // The budget's exact money: settlements reach the budget row itself only when something next locks it.
    const balance = (await readBudgetBalances(prisma, [budget.id])).get(budget.id);
    return { reservation, call, spent: balance?.spentUsd.toFixed(), reserved: balance?.reservedUsd.toFixed() };
  };
  const stats = async () => (await (await fetch(`${simulator.url}/_sim/stats`)).json()) as { messages: number };
  const request = (prompt = `Goal: ${randomUUID()}`) => ({ system: 'You are a research analyst.', prompt });

  it('reserves the worst case of the counted prompt, bills the actual cost and releases the rest', async () => {
    const scope = await scopeWithBudget();
    const reply = await caller.call(scope, request(), new AbortController().signal);
    expect(reply.text).toContain('## Findings');
    const { reservation, call, spent, reserved } = await ledgerOf(scope);
    expect(call).toMatchObject({ attemptId: attemptIdFor(scope, 1), outcome: 'SUCCESS', model: 'claude-sonnet-5-5' });
    expect(reservation.attemptId).toBe(`${scope.id.stepId}:1:1:1`);
    const promptTokens = call!.inputTokens + call!.cacheCreationInputTokens + call!.cacheReadInputTokens;
    const worst = config.pricing.worstCaseCost('claude-sonnet-5-5', { promptTokens, maxTokens: 2048, cacheTtl: '5m' });
    expect(reservation.amountUsd.toFixed()).toBe(worst.toFixed());
    expect(call!.costUsd.toFixed()).toBe(config.pricing.costOf('claude-sonnet-5-5', call!).toFixed());
    expect({ spent, reserved }).toEqual({ spent: call!.costUsd.toFixed(), reserved: '0' });
  });

  it('reserves on a byte-based over-estimate when count_tokens fails, and still makes the call', async () => {
    const scope = await scopeWithBudget();
    const marker = randomUUID();
    await fetch(`${simulator.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ fault: '500', count: 1, match: marker }) });
    const prompt = `Goal: ${marker}`;
    await caller.call(scope, request(prompt), new AbortController().signal);
    const { reservation, call } = await ledgerOf(scope);
    expect(call?.outcome).toBe('SUCCESS');
    const bound = promptTokensUpperBound(request(prompt));
    expect(reservation.amountUsd.toFixed()).toBe(config.pricing.worstCaseCost('claude-sonnet-5-5', { promptTokens: bound, maxTokens: 2048, cacheTtl: '5m' }).toFixed());
    expect(bound).toBeGreaterThan(call!.inputTokens + call!.cacheCreationInputTokens + call!.cacheReadInputTokens);
  });

  it('records an answered error at 0 and releases its hold', async () => {
    const scope = await scopeWithBudget();
    await expect(caller.call(scope, request('Goal: x [[sim:fault=529]]'), new AbortController().signal)).rejects.toThrow(LlmCallError);
    const { reservation, call, spent, reserved } = await ledgerOf(scope);
    expect(call).toMatchObject({ outcome: 'ERROR', errorType: 'overloaded', requestId: expect.stringMatching(/^req_/) });
    expect(call!.costUsd.toFixed()).toBe('0');
    expect(reservation.state).toBe('RELEASED');
    expect({ spent, reserved }).toEqual({ spent: '0', reserved: '0' });
  });

  it('bills a call that timed out or was aborted at its reservation, as an unknown outcome', async () => {
    for (const abort of [false, true]) {
      const scope = await scopeWithBudget();
      const controller = new AbortController();
      if (abort) setTimeout(() => controller.abort(new Error('cancelled')), 200);
      await expect(caller.call(scope, request('Goal: slow [[sim:latency=3000]]'), controller.signal)).rejects.toThrow(LlmCallError);
      const { reservation, call, spent, reserved } = await ledgerOf(scope);
      expect(call).toMatchObject({ outcome: 'UNKNOWN', errorType: abort ? 'aborted' : 'timeout' });
      expect(call!.costUsd.toFixed()).toBe(reservation.amountUsd.toFixed());
      expect(reservation.state).toBe('UNKNOWN_OUTCOME');
      expect({ spent, reserved }).toEqual({ spent: reservation.amountUsd.toFixed(), reserved: '0' });
    }
  });

  it('refuses a call its budget cannot cover before sending it: BUDGET_EXCEEDED, not retryable, audited', async () => {
    const scope = await scopeWithBudget('0.001');
    const before = await stats();
    const failure = await caller.call(scope, request(), new AbortController().signal).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StepFailure);
    expect(failure).toMatchObject({ code: 'BUDGET_EXCEEDED', retryable: false, message: expect.stringContaining('the task total budget has a limit of $0.001 with $0 spent and $0 reserved') });
    expect((await stats()).messages).toBe(before.messages);
    expect(await prisma.llmCall.count({ where: { stepId: scope.id.stepId } })).toBe(0);
    const [denied] = await prisma.auditEvent.findMany({ where: { taskId: scope.id.taskId, action: 'budget.denied' } });
    expect(denied).toMatchObject({ actor: 'service:research-agent', subject: `step:${scope.id.stepId}`, traceId: 'trace' });
    expect(new Decimal((denied?.data as { neededUsd: string }).neededUsd).greaterThan('0.001')).toBe(true);
  });

  it('answers a repeated request from the response cache, except on a redelivery, whose fresh answer replaces it', async () => {
    const cachingConfig = loadAgentConfig({ DATABASE_URL: db.url, LLM_MODE: 'simulator', ANTHROPIC_BASE_URL: simulator.url, LLM_RESPONSE_CACHE_TTL_SECONDS: '600' });
    const caching = new ModelCaller({ agent: 'research', handlers: {} }, cachingConfig, new LlmClient(cachingConfig), new SpendLedger(prisma.pool), prisma, new AuditContentCapture('redacted'), createLogger({ service: 'test', level: 'silent' }), metricsCatalog(new Registry()));
    const scope = await scopeWithBudget();
    const same = request();
    await caching.call(scope, same, new AbortController().signal);
    const before = await stats();
    await caching.call({ ...scope, callIndex: 2 }, same, new AbortController().signal);
    expect((await stats()).messages).toBe(before.messages);
    await caching.call({ ...scope, attempt: 2 }, same, new AbortController().signal);
    expect((await stats()).messages).toBe(before.messages + 1);
    const calls = await prisma.llmCall.findMany({ where: { stepId: scope.id.stepId }, orderBy: { createdAt: 'asc' } });
    expect(calls.map((call) => [call.attemptId.split(':').slice(1).join(':'), call.cacheHit])).toEqual([
      ['1:1:1', false],
      ['1:2:1', true],
      ['2:1:1', false],
    ]);
  });

  it('refuses an unpriced model before anything is held or sent, and lets a policy run a second try under its own attempt id', async () => {
    const scope = await scopeWithBudget();
    const prepared = caller.prepare(scope, request());
    await expect(caller.attempt(prepared, { model: 'claude-sonnet-9', attemptId: attemptIdFor(scope, 1) }, new AbortController().signal)).rejects.toThrow(UnknownModelError);
    expect(await prisma.spendReservation.count({ where: { stepId: scope.id.stepId } })).toBe(0);
    await caller.attempt(prepared, { model: 'claude-haiku-5-5', attemptId: attemptIdFor(scope, 2) }, new AbortController().signal);
    expect(await prisma.llmCall.findUnique({ where: { attemptId: `${scope.id.stepId}:1:1:2` } })).toMatchObject({ model: 'claude-haiku-5-5', outcome: 'SUCCESS' });
  });
});
