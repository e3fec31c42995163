import { randomUUID } from 'node:crypto';
import { AtelierStack } from '@atelier/testing';

// Every failure of the model handled by policy, end to end: the real SDK in the agents
// against the simulator's injected faults, each attempt in the ledger, the task's outcome
// through the API.

/** A scripted fault is taken by every request it matches, count_tokens too: leave counting (and the response cache) out. */
const FAULT_SCRIPTING_ENV = { LLM_COUNT_TOKENS: 'off', LLM_RESPONSE_CACHE_TTL_SECONDS: '0' };

/**
 * One attempt per call and no fallback: each failure is one step delivery, and the
 * research agent's only model is claude-sonnet-5-5, so its open breaker blocks every step.
 */
const ONE_MODEL_ENV = {
  ...FAULT_SCRIPTING_ENV,
  LLM_RETRY_MAX_ATTEMPTS: '1',
  LLM_ROUTES: JSON.stringify({ 'research.plan': { model: 'claude-sonnet-5-5' } }),
  LLM_STEP_POLICIES: JSON.stringify({ 'research.investigate': { fallbacks: [] } }),
  STEP_RETRY_BACKOFF_MS: '100',
};

/** The stack of one describe block (started before its tests, stopped after), with a task-writing key of tenant acme. */
function stackFor(agentEnv: Record<string, string>): { readonly stack: AtelierStack; readonly key: string } {
  let started: { stack: AtelierStack; key: string } | undefined;
  beforeAll(async () => {
    const stack = await AtelierStack.start({ agentEnv });
    started = { stack, key: await stack.mintKey('acme', ['tasks:write', 'tasks:read']) };
  }, 90_000);
  afterAll(() => started?.stack.stop());
  const need = () => {
    if (!started) throw new Error('the stack did not start');
    return started;
  };
  return {
    get stack() {
      return need().stack;
    },
    get key() {
      return need().key;
    },
  };
}

interface CallRow {
  attempt_id: string;
  model: string;
  outcome: string;
  error_type: string | null;
  latency_ms: number;
  created_at: Date;
}

describe('model call resilience (end to end)', () => {
  const ctx = stackFor({ ...FAULT_SCRIPTING_ENV, LLM_TIMEOUT_MS: '1500', STEP_RETRY_BACKOFF_MS: '200' });

  /** A brief task whose goal carries `marker`: its investigation is the first model call that matches it. */
  async function briefWith(fault: { fault: string; count?: number; retryAfterSeconds?: number }) {
    const marker = randomUUID();
    await ctx.stack.queueFault({ ...fault, match: marker });
    const id = await ctx.stack.submit(ctx.key, { workflow: 'brief', input: { goal: `Tidal power ${marker}` } });
    const task = await ctx.stack.waitForTask(id, ctx.key, 60_000);
    const calls = await ctx.stack.rows<CallRow>(
      `SELECT c.attempt_id, c.model, c.outcome::text, c.error_type, c.latency_ms, c.created_at
       FROM llm_calls c JOIN steps s ON s.id = c.step_id WHERE s.task_id = $1 AND s.key = 'investigate' ORDER BY c.created_at`,
      [id],
    );
    const [step] = await ctx.stack.rows(`SELECT status::text, attempt, error, metadata FROM steps WHERE task_id = $1 AND key = 'investigate'`, [id]);
    return { id, task, calls, step };
  }

  /** `<delivery>:<call>:<try>` of each attempt (the step id before it is the same), model, outcome, error type. */
  const summary = (calls: CallRow[]) => calls.map((call) => [call.attempt_id.split(':').slice(1).join(':'), call.model, call.outcome, call.error_type]);

  it('waits out a 429 for at least its retry-after before the next attempt', async () => {
    const { task, calls } = await briefWith({ fault: '429', retryAfterSeconds: 2 });
    expect(task.status).toBe('completed');
    expect(summary(calls)).toEqual([
      ['1:1:1', 'claude-sonnet-5-5', 'error', 'rate_limited'],
      ['1:1:2', 'claude-sonnet-5-5', 'success', null],
    ]);
    // Each row is written when its attempt ends; the second attempt started after the wait.
    const [first, second] = calls as [CallRow, CallRow];
    expect(second.created_at.getTime() - second.latency_ms - first.created_at.getTime()).toBeGreaterThanOrEqual(2_000);
  }, 60_000);

  it('moves to the fallback model on a 529 and records it in the ledger, the audit trail and the step', async () => {
    const { id, task, calls, step } = await briefWith({ fault: '529' });
    expect(task.status).toBe('completed');
    expect(summary(calls)).toEqual([
      ['1:1:1', 'claude-sonnet-5-5', 'error', 'overloaded'],
      ['1:1:2', 'claude-haiku-5-5', 'success', null],
    ]);
    expect(step.metadata).toMatchObject({
      modelCalls: [{ callIndex: 1, model: 'claude-haiku-5-5', fellBack: true, attempts: 2, options: [{ model: 'claude-sonnet-5-5', outcome: 'failed', kind: 'overloaded' }, { model: 'claude-haiku-5-5', outcome: 'served' }] }],
    });
    const events = await ctx.stack.rows(`SELECT data FROM audit_events WHERE task_id = $1 AND action = 'llm.call' ORDER BY seq`, [id]);
    expect(events.map((event) => [event.data.model, event.data.outcome])).toEqual([
      ['claude-sonnet-5-5', 'error'],
      ['claude-haiku-5-5', 'success'],
      ['claude-sonnet-5-5', 'success'], // the draft, on its routed model
    ]);
    const [completed] = await ctx.stack.rows(`SELECT data FROM audit_events WHERE task_id = $1 AND action = 'step.completed' ORDER BY seq LIMIT 1`, [id]);
    expect(completed.data.modelCalls).toEqual([expect.objectContaining({ model: 'claude-haiku-5-5', fellBack: true })]);
  }, 60_000);

  it('completes after a 500 with both attempts recorded', async () => {
    const { task, calls } = await briefWith({ fault: '500' });
    expect(task.status).toBe('completed');
    expect(summary(calls)).toEqual([
      ['1:1:1', 'claude-sonnet-5-5', 'error', 'server_error'],
      ['1:1:2', 'claude-sonnet-5-5', 'success', null],
    ]);
  }, 60_000);

  it('does not retry a 400 and fails the task with a reason a user can read', async () => {
    const { task, calls, step } = await briefWith({ fault: '400' });
    expect(task.status).toBe('failed');
    expect(summary(calls)).toEqual([['1:1:1', 'claude-sonnet-5-5', 'error', 'client_error']]);
    expect(step).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'LLM_ERROR', retryable: false } });
    expect(step.error.message).toMatch(/^The model call failed: claude-sonnet-5-5 .*HTTP 400/);
    expect(task.error.message).toContain('HTTP 400');
  }, 60_000);

  it('times a hung call out, bills it as unknown, and retries it', async () => {
    const { task, calls } = await briefWith({ fault: 'hang' });
    expect(task.status).toBe('completed');
    expect(summary(calls)).toEqual([
      ['1:1:1', 'claude-sonnet-5-5', 'unknown', 'timeout'],
      ['1:1:2', 'claude-sonnet-5-5', 'success', null],
    ]);
    expect(calls[0]?.latency_ms).toBeGreaterThanOrEqual(1_400);
  }, 60_000);

  it('retries an answer cut mid-stream and never keeps its partial text', async () => {
    const { id, task, calls } = await briefWith({ fault: 'stream-cut' });
    expect(task.status).toBe('completed');
    expect(summary(calls)).toEqual([
      ['1:1:1', 'claude-sonnet-5-5', 'unknown', 'connection'],
      ['1:1:2', 'claude-sonnet-5-5', 'success', null],
    ]);
    const [investigate] = await ctx.stack.rows(`SELECT output FROM steps WHERE task_id = $1 AND key = 'investigate'`, [id]);
    // The simulator's whole answer: three findings and its sources line, not a cut-off half.
    expect(investigate.output.findings).toMatch(/Key point 3: [\s\S]*Sources:/);
  }, 60_000);
});

describe('circuit breaker (end to end)', () => {
  const HALF_OPEN_MS = 4_000;
  const ctx = stackFor({ ...ONE_MODEL_ENV, LLM_BREAKER_FAILURES: '2', LLM_BREAKER_HALF_OPEN_MS: String(HALF_OPEN_MS) });

  const research = () => {
    const agent = ctx.stack.agents.find((candidate) => candidate.name === 'research-agent');
    if (!agent) throw new Error('no research agent in the stack');
    return agent;
  };
  const circuitState = async () => {
    const metrics = await (await fetch(`${research().url}/metrics`)).text();
    const match = /^atelier_circuit_state\{[^}]*model="claude-sonnet-5-5"[^}]*\} (\d+)$/m.exec(metrics);
    return match ? Number(match[1]) : undefined;
  };
  const sonnetCalls = async () => {
    const [row] = await ctx.stack.rows<{ n: number }>(`SELECT count(*)::int AS n FROM llm_calls WHERE model = 'claude-sonnet-5-5'`);
    return row?.n ?? 0;
  };

  it('opens after the threshold and stops pulling, half-opens after its delay, closes on a good probe; queued work completes', async () => {
    expect(await circuitState()).toBe(0);
    await ctx.stack.queueFault({ fault: '500', count: 2 });
    const first = await ctx.stack.submit(ctx.key, { workflow: 'brief', input: { goal: 'Breaker first' } });

    // Two failed deliveries open the breaker: the metric says so and the consumer pauses.
    const deadline = Date.now() + 15_000;
    while ((await circuitState()) !== 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await circuitState()).toBe(1);
    const openedAt = Date.now();
    expect(research().logs.some((line) => line.includes('stopped pulling steps'))).toBe(true);

    // Work queued meanwhile waits in JetStream instead of burning deliveries on refused calls.
    const second = await ctx.stack.submit(ctx.key, { workflow: 'brief', input: { goal: 'Breaker second' } });
    const callsWhileOpen = await sonnetCalls();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, HALF_OPEN_MS - 1_500 - (Date.now() - openedAt))));
    expect(await sonnetCalls()).toBe(callsWhileOpen);
    const [waiting] = await ctx.stack.rows(`SELECT status::text, attempt FROM steps WHERE task_id = $1 AND key = 'investigate'`, [second]);
    expect(waiting).toEqual({ status: 'queued', attempt: 0 });

    // Half-open after the delay: the consumer resumes, the probe succeeds, the breaker closes.
    const [firstTask, secondTask] = await Promise.all([ctx.stack.waitForTask(first, ctx.key, 30_000), ctx.stack.waitForTask(second, ctx.key, 30_000)]);
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(HALF_OPEN_MS - 1_500);
    expect([firstTask.status, secondTask.status]).toEqual(['completed', 'completed']);
    expect(await circuitState()).toBe(0);
    expect(research().logs.some((line) => line.includes('a model is available again'))).toBe(true);
    const calls = await ctx.stack.rows(`SELECT outcome::text, count(*)::int AS n FROM llm_calls WHERE model = 'claude-sonnet-5-5' AND step_id IN (SELECT id FROM steps WHERE key = 'investigate') GROUP BY 1 ORDER BY 1`);
    expect(calls).toEqual([
      { outcome: 'error', n: 2 },
      { outcome: 'success', n: 2 },
    ]);
  }, 60_000);
});

describe('a step that meets an open breaker (end to end)', () => {
  // One call at a time: the second step waits for the first call's slot, then meets the breaker it opened.
  const ctx = stackFor({ ...ONE_MODEL_ENV, LLM_MAX_CONCURRENT_CALLS: '1', LLM_BREAKER_FAILURES: '1', LLM_BREAKER_HALF_OPEN_MS: '3000' });

  it('hands the step back without using an attempt, and runs it once a breaker half-opens', async () => {
    const marker = randomUUID();
    await ctx.stack.queueFault({ fault: '500', count: 1, match: marker });
    const failing = await ctx.stack.submit(ctx.key, { workflow: 'brief', input: { goal: `Slow then failing ${marker} [[sim:latency=1500]]` } });
    // The second task is submitted while the first one's call holds the only slot.
    expect(await waitForRows(ctx.stack, `SELECT id FROM steps WHERE task_id = $1 AND key = 'investigate' AND status = 'running'`, [failing])).toHaveLength(1);
    const waiting = await ctx.stack.submit(ctx.key, { workflow: 'brief', input: { goal: 'Waiting for a slot' } });

    const [failingTask, waitingTask] = await Promise.all([ctx.stack.waitForTask(failing, ctx.key, 30_000), ctx.stack.waitForTask(waiting, ctx.key, 30_000)]);
    expect([failingTask.status, waitingTask.status]).toEqual(['completed', 'completed']);
    const steps = await ctx.stack.rows(`SELECT task_id, attempt, attempt_base FROM steps WHERE task_id = ANY($1) AND key = 'investigate'`, [[failing, waiting]]);
    const stepOf = (task: string) => steps.find((step) => step.task_id === task);
    // The failing step used two attempts; the waiting one was handed back once, which did not count.
    expect(stepOf(failing)).toMatchObject({ attempt: 2, attempt_base: 0 });
    expect(stepOf(waiting)).toMatchObject({ attempt: 2, attempt_base: 1 });
    const calls = await ctx.stack.rows(`SELECT s.task_id, c.outcome::text FROM llm_calls c JOIN steps s ON s.id = c.step_id WHERE s.key = 'investigate' ORDER BY c.created_at`);
    expect(calls.filter((call) => call.task_id === waiting).map((call) => call.outcome)).toEqual(['success']);
    expect(calls.filter((call) => call.task_id === failing).map((call) => call.outcome)).toEqual(['error', 'success']);
  }, 60_000);
});

async function waitForRows(stack: AtelierStack, query: string, params: unknown[], timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await stack.rows(query, params);
    if (rows.length > 0 || Date.now() > deadline) return rows;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
