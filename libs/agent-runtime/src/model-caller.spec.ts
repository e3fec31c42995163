import { randomUUID } from 'node:crypto';
import Decimal from 'decimal.js';
import { Registry } from 'prom-client';
import { promptTokensUpperBound, UnknownModelError } from '@atelier/llm';
import { createLogger, metricsCatalog } from '@atelier/observability';
import { AuditContentCapture, createPrismaClient, type PrismaService, readBudgetBalances, type Settlement, SpendLedger, type SqlPool } from '@atelier/persistence';
import { CircuitBreakerRegistry, LlmCallPolicy } from '@atelier/resilience';
import { createTestDatabase, type LlmSimulatorProcess, startLlmSimulator, type TestDatabase } from '@atelier/testing';
import { type AgentConfig, loadAgentConfig } from './agent-config';
import { LlmClient } from './llm-client';
import { FirstCallClaim, NotClaimedByFirstCall } from './first-call-claim';
import { attemptIdFor, ModelCaller, type ModelCallScope } from './model-caller';
import { StepFailure } from './step-handler';

// One model call's path against real Postgres and the simulator through the real SDK:
// what is reserved, what is billed, and what the ledger says, for every way a call ends,
// with the call policy (retry, fallback, breaker, timeout) around every attempt.
describe(ModelCaller.name, () => {
  let db: TestDatabase;
  let prisma: PrismaService;
  let simulator: LlmSimulatorProcess;
  let config: AgentConfig;
  let caller: ModelCaller;
  let cachingCaller: ModelCaller;
  const breakerRegistries: CircuitBreakerRegistry[] = [];

  function modelCaller(agentConfig: AgentConfig, pool: SqlPool = prisma.pool): ModelCaller {
    const breakers = new CircuitBreakerRegistry(agentConfig.llmPolicy.breaker);
    breakerRegistries.push(breakers);
    const policy = new LlmCallPolicy({ bulkhead: agentConfig.llmPolicy.bulkhead, breakers });
    const logger = createLogger({ service: 'test', level: 'silent' });
    return new ModelCaller({ agent: 'research', handlers: {} }, agentConfig, new LlmClient(agentConfig), new SpendLedger(pool), prisma, new AuditContentCapture('redacted'), logger, metricsCatalog(new Registry()), policy, agentConfig.llmPolicy);
  }

  beforeAll(async () => {
    [db, simulator] = await Promise.all([createTestDatabase('atelier_model_caller'), startLlmSimulator()]);
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 4 });
    // Every prompt counted, so the count's part in each path shows; see 'LLM_COUNT_TOKENS=auto' for the default.
    config = loadAgentConfig({ DATABASE_URL: db.url, LLM_MODE: 'simulator', ANTHROPIC_BASE_URL: simulator.url, LLM_TIMEOUT_MS: '1000', LLM_RETRY_MAX_ATTEMPTS: '2', LLM_RESPONSE_CACHE_TTL_SECONDS: '0', LLM_COUNT_TOKENS: 'on' });
    caller = modelCaller(config);
    cachingCaller = modelCaller({ ...config, LLM_RESPONSE_CACHE_TTL_SECONDS: 600 });
  });

  afterAll(async () => {
    breakerRegistries.forEach((breakers) => breakers.dispose());
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
  const stats = async () => (await (await fetch(`${simulator.url}/_sim/stats`)).json()) as { messages: number; countTokens: number };
  const request = (prompt = `Goal: ${randomUUID()}`) => ({ system: 'You are a research analyst.', prompt });

  // With the response cache on, count_tokens goes out while the cache is asked.
  describe.each([
    ['off', () => caller],
    ['on', () => cachingCaller],
  ])('with the response cache %s', (_cache, callerOf) => {
    it('reserves the worst case of the counted prompt, bills the actual cost and releases the rest', async () => {
      const scope = await scopeWithBudget();
      const before = await stats();
      const { reply, summary } = await callerOf().call(scope, request(), new AbortController().signal);
      expect(reply.text).toContain('## Findings');
      expect(summary).toMatchObject({ model: 'claude-sonnet-5-5', fellBack: false, attempts: 1 });
      const { reservation, call, spent, reserved } = await ledgerOf(scope);
      expect(call).toMatchObject({ attemptId: attemptIdFor(scope, 1), outcome: 'SUCCESS', model: 'claude-sonnet-5-5' });
      expect(reservation.attemptId).toBe(`${scope.id.stepId}:1:1:1`);
      const promptTokens = call!.inputTokens + call!.cacheCreationInputTokens + call!.cacheReadInputTokens;
      const worst = config.pricing.worstCaseCost('claude-sonnet-5-5', { promptTokens, maxTokens: 2048, cacheTtl: '5m' });
      expect(reservation.amountUsd.toFixed()).toBe(worst.toFixed());
      expect(call!.costUsd.toFixed()).toBe(config.pricing.costOf('claude-sonnet-5-5', call!).toFixed());
      expect({ spent, reserved }).toEqual({ spent: call!.costUsd.toFixed(), reserved: '0' });
      const after = await stats();
      expect([after.countTokens - before.countTokens, after.messages - before.messages]).toEqual([1, 1]);
    });

    it('reserves on a byte-based over-estimate when count_tokens fails, and still makes the call', async () => {
      const scope = await scopeWithBudget();
      const marker = randomUUID();
      await fetch(`${simulator.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ fault: '500', count: 1, match: marker }) });
      const prompt = `Goal: ${marker}`;
      await callerOf().call(scope, request(prompt), new AbortController().signal);
      const { reservation, call } = await ledgerOf(scope);
      expect(call?.outcome).toBe('SUCCESS');
      const bound = promptTokensUpperBound(request(prompt));
      expect(reservation.amountUsd.toFixed()).toBe(config.pricing.worstCaseCost('claude-sonnet-5-5', { promptTokens: bound, promptTokensAreUpperBound: true, maxTokens: 2048, cacheTtl: '5m' }).toFixed());
      expect(bound).toBeGreaterThan(call!.inputTokens + call!.cacheCreationInputTokens + call!.cacheReadInputTokens);
    });
  });

  it('LLM_COUNT_TOKENS=auto: a short prompt is reserved on its byte bound without a count; a long shared context is counted', async () => {
    const autoCaller = modelCaller({ ...config, LLM_COUNT_TOKENS: 'auto' });
    const short = await scopeWithBudget();
    const shortRequest = request();
    const before = await stats();
    await autoCaller.call(short, shortRequest, new AbortController().signal);
    const afterShort = await stats();
    expect([afterShort.countTokens - before.countTokens, afterShort.messages - before.messages]).toEqual([0, 1]);
    const bound = promptTokensUpperBound(shortRequest);
    const onBound = config.pricing.worstCaseCost('claude-sonnet-5-5', { promptTokens: bound, promptTokensAreUpperBound: true, maxTokens: 2048, cacheTtl: '5m' });
    expect((await ledgerOf(short)).reservation.amountUsd.toFixed()).toBe(onBound.toFixed());

    const long = await scopeWithBudget();
    await autoCaller.call(long, { ...request(), context: `Findings: ${'evidence '.repeat(2_500)}` }, new AbortController().signal);
    const afterLong = await stats();
    expect([afterLong.countTokens - afterShort.countTokens, afterLong.messages - afterShort.messages]).toEqual([1, 1]);
    const { reservation } = await ledgerOf(long);
    const call = await prisma.llmCall.findFirstOrThrow({ where: { stepId: long.id.stepId } });
    const promptTokens = call.inputTokens + call.cacheCreationInputTokens + call.cacheReadInputTokens;
    expect(reservation.amountUsd.toFixed()).toBe(config.pricing.worstCaseCost('claude-sonnet-5-5', { promptTokens, maxTokens: 2048, cacheTtl: '5m' }).toFixed());
  });

  const callsOf = (scope: ModelCallScope) => prisma.llmCall.findMany({ where: { stepId: scope.id.stepId }, orderBy: { attemptId: 'asc' } });
  const reservationsOf = (scope: ModelCallScope) => prisma.spendReservation.findMany({ where: { stepId: scope.id.stepId }, orderBy: { attemptId: 'asc' } });

  it('moves to the fallback model on a 529: the refused attempt is recorded at 0 and released, the fallback billed', async () => {
    const scope = await scopeWithBudget();
    const marker = randomUUID();
    // count_tokens takes the first scripted fault (then reserves on the byte-based bound), the call the second.
    await fetch(`${simulator.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ fault: '529', count: 2, match: marker }) });
    const { summary } = await caller.call(scope, request(`Goal: ${marker}`), new AbortController().signal);
    expect(summary).toMatchObject({ model: 'claude-haiku-5-5', fellBack: true, attempts: 2 });
    expect(summary.options?.map((option) => [option.model, option.outcome])).toEqual([
      ['claude-sonnet-5-5', 'failed'],
      ['claude-haiku-5-5', 'served'],
    ]);
    const calls = await callsOf(scope);
    expect(calls.map((call) => [call.attemptId.split(':')[3], call.model, call.outcome, call.errorType])).toEqual([
      ['1', 'claude-sonnet-5-5', 'ERROR', 'overloaded'],
      ['2', 'claude-haiku-5-5', 'SUCCESS', null],
    ]);
    const [refused, served] = calls;
    expect(refused).toMatchObject({ requestId: expect.stringMatching(/^req_/) });
    expect(refused?.costUsd.toFixed()).toBe('0');
    expect((await reservationsOf(scope)).map((reservation) => reservation.state)).toEqual(['RELEASED', 'SETTLED']);
    const { spent, reserved } = await ledgerOf(scope);
    expect({ spent, reserved }).toEqual({ spent: served?.costUsd.toFixed(), reserved: '0' });
  });

  it('does not retry a request the API refuses (400), and fails the step with a readable, non-retryable reason', async () => {
    const scope = await scopeWithBudget();
    const failure = await caller.call(scope, request('Goal: refused [[sim:fault=400]]'), new AbortController().signal).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StepFailure);
    expect(failure).toMatchObject({ code: 'LLM_ERROR', retryable: false, message: expect.stringMatching(/^The model call failed: .*HTTP 400/) });
    expect((await callsOf(scope)).map((call) => [call.outcome, call.errorType])).toEqual([['ERROR', 'client_error']]);
  });

  it('bills an attempt that timed out at its reservation as an unknown outcome, then retries it under a new attempt id', async () => {
    const scope = await scopeWithBudget();
    const failure = await caller.call(scope, request('Goal: slow [[sim:latency=3000]]'), new AbortController().signal).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'LLM_UNAVAILABLE', retryable: true, message: 'The model call failed: claude-sonnet-5-5 timed out; gave up after 2 attempts.' });
    const calls = await callsOf(scope);
    expect(calls.map((call) => [call.attemptId.split(':')[3], call.outcome, call.errorType])).toEqual([
      ['1', 'UNKNOWN', 'timeout'],
      ['2', 'UNKNOWN', 'timeout'],
    ]);
    const reservations = await reservationsOf(scope);
    expect(reservations.map((reservation) => reservation.state)).toEqual(['UNKNOWN_OUTCOME', 'UNKNOWN_OUTCOME']);
    expect(calls.map((call) => call.costUsd.toFixed())).toEqual(reservations.map((reservation) => reservation.amountUsd.toFixed()));
    const { spent, reserved } = await ledgerOf(scope);
    expect({ spent, reserved }).toEqual({ spent: Decimal.sum(...calls.map((call) => call.costUsd)).toFixed(), reserved: '0' });
  });

  it('with the response cache on, counts the prompt once, alongside the lookup, for every attempt with the routed model', async () => {
    const scope = await scopeWithBudget();
    const before = await stats();
    const failure = await cachingCaller.call(scope, request(`Goal: slow ${randomUUID()} [[sim:latency=3000]]`), new AbortController().signal).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'LLM_UNAVAILABLE' });
    const after = await stats();
    expect([after.countTokens - before.countTokens, after.messages - before.messages]).toEqual([1, 2]);
    const reservations = await reservationsOf(scope);
    expect(reservations).toHaveLength(2);
    expect(reservations[1]?.amountUsd.toFixed()).toBe(reservations[0]?.amountUsd.toFixed());
  });

  it('bills an aborted call at its reservation and hands the caller its own reason, without retrying', async () => {
    const scope = await scopeWithBudget();
    const controller = new AbortController();
    const cancelled = new Error('cancelled');
    // Abort once the request is at the simulator (held there 3 s): a call aborted before it went out is released, not billed.
    const sent = (await stats()).messages;
    const call = caller.call(scope, request('Goal: slow [[sim:latency=3000]]'), controller.signal);
    while ((await stats()).messages === sent) await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort(cancelled);
    await expect(call).rejects.toBe(cancelled);
    const calls = await callsOf(scope);
    expect(calls.map((call) => [call.outcome, call.errorType])).toEqual([['UNKNOWN', 'aborted']]);
    const { reservation, spent } = await ledgerOf(scope);
    expect(reservation.state).toBe('UNKNOWN_OUTCOME');
    expect(spent).toBe(reservation.amountUsd.toFixed());
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
    const statements: string[] = [];
    const recording: SqlPool = { query: (query) => (statements.push(query.name ?? query.text), prisma.pool.query(query)) };
    // Defaults: a short prompt is not counted, so the lookup rides in the reservation.
    const caching = modelCaller(loadAgentConfig({ DATABASE_URL: db.url, LLM_MODE: 'simulator', ANTHROPIC_BASE_URL: simulator.url, LLM_RESPONSE_CACHE_TTL_SECONDS: '600' }), recording);
    const scope = await scopeWithBudget();
    const same = request();
    await caching.call(scope, same, new AbortController().signal);
    const before = await stats();
    statements.length = 0;
    const { reply, summary } = await caching.call({ ...scope, callIndex: 2 }, same, new AbortController().signal);
    expect(summary).toEqual({ callIndex: 2, model: 'claude-sonnet-5-5', cached: true });
    expect(reply.text).toContain('## Findings');
    expect((await stats()).messages).toBe(before.messages);
    expect(statements).toEqual(['atelier_spend_reserve_fast_v4']);
    await caching.call({ ...scope, attempt: 2 }, same, new AbortController().signal);
    expect((await stats()).messages).toBe(before.messages + 1);
    const calls = await prisma.llmCall.findMany({ where: { stepId: scope.id.stepId }, orderBy: { createdAt: 'asc' } });
    expect(calls.map((call) => [call.attemptId.split(':').slice(1).join(':'), call.cacheHit])).toEqual([
      ['1:1:1', false],
      ['1:2:1', true],
      ['2:1:1', false],
    ]);
  });

  it("leaves a successful call's settlement to the end of its attempt when given a place for it, and settles it before the attempt's next call reserves", async () => {
    const scope = await scopeWithBudget();
    const unsettled: Settlement[] = [];
    await caller.call({ ...scope, unsettled }, request(), new AbortController().signal);
    expect(unsettled).toEqual([expect.objectContaining({ attemptId: attemptIdFor(scope, 1), outcome: 'success' })]);
    expect(await callsOf(scope)).toEqual([]);
    expect((await reservationsOf(scope)).map((reservation) => reservation.state)).toEqual(['RESERVED']);

    // The next call of the attempt settles the first before it reserves: its hold is decided on exact money.
    const second = { ...scope, callIndex: 2, unsettled };
    await caller.call(second, request(), new AbortController().signal);
    expect(unsettled).toEqual([expect.objectContaining({ attemptId: attemptIdFor(second, 1) })]);
    const [first] = await callsOf(scope);
    expect(first).toMatchObject({ attemptId: attemptIdFor(scope, 1), outcome: 'SUCCESS' });
    const [settled, held] = await reservationsOf(scope);
    expect([settled?.state, held?.state]).toEqual(['SETTLED', 'RESERVED']);
    const budget = await prisma.budget.findFirstOrThrow({ where: { taskId: scope.id.taskId } });
    const balance = (await readBudgetBalances(prisma, [budget.id])).get(budget.id);
    expect([balance?.spentUsd.toFixed(), balance?.reservedUsd.toFixed()]).toEqual([first?.costUsd.toFixed(), held?.amountUsd.toFixed()]);
  });

  it('refuses an unpriced model before anything is held or sent, and does not retry it', async () => {
    const scope = await scopeWithBudget();
    const before = await stats();
    await expect(caller.call(scope, { ...request(), model: 'claude-sonnet-9' }, new AbortController().signal)).rejects.toThrow(UnknownModelError);
    expect(await prisma.spendReservation.count({ where: { stepId: scope.id.stepId } })).toBe(0);
    expect((await stats()).messages).toBe(before.messages);
  });

  describe('with the step left to its first call to claim', () => {
    // A caller of its own per test: after a fast reservation declined, a ledger claims nothing for a while.
    let claiming: ModelCaller;
    beforeEach(() => {
      claiming = modelCaller(config);
    });

    /** A step that never ran, and its claim as a first delivery carrying `input` leaves it to the first call. */
    async function unclaimed(input: Record<string, string> = { goal: 'g' }) {
      const scope = await scopeWithBudget();
      await prisma.step.update({ where: { id: scope.id.stepId }, data: { attempt: 0, input } });
      const started: unknown[] = [];
      const claim = new FirstCallClaim({ owner: `delivery-${randomUUID()}`, leaseMs: 30_000, agent: 'research', input: JSON.stringify(input) }, input);
      void claim.whenClaimed.then((step) => started.push(step));
      return { scope: { ...scope, claim }, claim, started };
    }

    it('claims the step in its first call\'s reservation, and later calls of the attempt reserve as usual', async () => {
      const { scope, claim, started } = await unclaimed();

      await claiming.call(scope, request(), new AbortController().signal);

      expect(started).toEqual([{ key: 'investigate', kind: 'research.investigate', attempt: 1, attemptsUsed: 1, dispatchSeq: 1, input: { goal: 'g' }, deadlineAt: null }]);
      expect(claim.step).toBe(started[0]);
      expect(await prisma.step.findUniqueOrThrow({ where: { id: scope.id.stepId } })).toMatchObject({ status: 'RUNNING', attempt: 1 });
      expect(await callsOf(scope)).toEqual([expect.objectContaining({ attemptId: attemptIdFor(scope, 1), outcome: 'SUCCESS' })]);

      await claiming.call({ ...scope, callIndex: 2 }, request(), new AbortController().signal);
      expect(started).toHaveLength(1);
      expect((await reservationsOf(scope)).map((reservation) => reservation.attemptId)).toEqual([attemptIdFor(scope, 1), attemptIdFor({ ...scope, callIndex: 2 }, 1)]);
    });

    it('makes no call and holds nothing when the step is not as the dispatch said, and every later call of the run fails alike', async () => {
      const { scope, claim, started } = await unclaimed({ goal: 'g' });
      await prisma.step.update({ where: { id: scope.id.stepId }, data: { input: { goal: 'changed' } } });
      const before = await stats();

      await expect(claiming.call(scope, request(), new AbortController().signal)).rejects.toThrow(NotClaimedByFirstCall);
      await expect(claiming.call({ ...scope, callIndex: 2 }, request(), new AbortController().signal)).rejects.toThrow(NotClaimedByFirstCall);

      expect([started, claim.step]).toEqual([[], undefined]);
      expect(await prisma.step.findUniqueOrThrow({ where: { id: scope.id.stepId } })).toMatchObject({ status: 'QUEUED', attempt: 0, leaseOwner: null });
      expect(await reservationsOf(scope)).toEqual([]);
      const after = await stats();
      expect([after.messages, after.countTokens]).toEqual([before.messages, before.countTokens + 1]);
    });

    it('releases the hold it made with the claim when the call policy never makes that try (its bulkhead is full)', async () => {
      const oneAtATime = modelCaller({ ...config, llmPolicy: { ...config.llmPolicy, bulkhead: { maxConcurrent: 1, maxQueued: 0 } } });
      const busy = oneAtATime.call(await scopeWithBudget(), request(`Goal: slow ${randomUUID()} [[sim:latency=800]]`), new AbortController().signal);
      await new Promise((resolve) => setTimeout(resolve, 300)); // the slow call holds the only slot
      const { scope, claim } = await unclaimed();

      await expect(oneAtATime.call(scope, request(), new AbortController().signal)).rejects.toThrow(StepFailure);

      expect(claim.step).toBeDefined();
      expect((await reservationsOf(scope)).map((reservation) => [reservation.attemptId, reservation.state])).toEqual([[attemptIdFor(scope, 1), 'RELEASED']]);
      await busy;
    });
  });
});
