import { randomUUID } from 'node:crypto';
import { AtelierStack, type CollectedSpan, type OtlpReceiver, STACK_ADMIN_KEY, startOtlpReceiver } from '@atelier/testing';

// What an operator sees of a task: one trace across every process (exported over OTLP to
// a local receiver), the metrics of every service, JSON logs that name the task and step,
// and no secret of the task's input anywhere.

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_KIND = { server: 2, client: 3, producer: 4, consumer: 5 } as const;

// Secrets a careless user pastes into a goal, assembled at run time so no source file holds one.
const ANTHROPIC_KEY = ['sk', 'ant', 'api03', 'Zq8xV3mN6bT1wR4yK7pL0sD9fG2hJ5cX8vB3nM6qW1eR4tY7u'].join('-');
const PASSWORD = ['hunter', '2', 'Sup3r', 'S3cret'].join('');

describe('observability (end to end)', () => {
  let receiver: OtlpReceiver;
  let stack: AtelierStack;
  let key: string;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    stack = await AtelierStack.start({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', LOG_LEVEL: 'debug' },
      // Every prompt counted: overloadedOnce's first fault is meant for count_tokens.
      agentEnv: { LLM_COUNT_TOKENS: 'on' },
    });
    key = await stack.mintKey('acme', ['tasks:write', 'tasks:read', 'audit:read']);
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
  });

  const services = () => [...stack.orchestrators, ...stack.agents];
  /** A brief task whose investigation is refused once with a 529 (count_tokens takes the first scripted fault, the call the second) and falls back. */
  const overloadedOnce = async () => {
    const marker = randomUUID();
    await stack.queueFault({ fault: '529', count: 2, match: marker });
    return stack.submit(key, { workflow: 'brief', input: { goal: `Overloaded once ${marker}` } });
  };
  const metricsOf = async (name: string) => (await fetch(`${services().find((service) => service.name === name)?.url}/metrics`)).text();

  it('follows a task in one trace: API request → orchestrator → agents → model calls → results → next steps', async () => {
    const id = await stack.submit(key, { input: { goal: 'Heat pumps in cold climates' } }, { traceparent: `00-${TRACE_ID}-b7ad6b7169203331-01` });
    expect((await stack.waitForTask(id, key)).status).toBe('completed');
    const steps = await stack.rows(`SELECT id, kind FROM steps WHERE task_id = $1`, [id]);

    const inTrace = (spans: CollectedSpan[]) => spans.filter((span) => span.traceId === TRACE_ID);
    const spans = inTrace(
      await receiver.waitFor((all) => inTrace(all).filter((span) => span.kind === SPAN_KIND.client).length >= steps.length && inTrace(all).some((span) => span.service === 'writer-agent' && span.kind === SPAN_KIND.producer)),
    );
    expect(new Set(spans.map((span) => span.service))).toEqual(new Set(['orchestrator', 'research-agent', 'writer-agent']));

    // The API request's span continues the caller's traceparent.
    const request = spans.find((span) => span.kind === SPAN_KIND.server && span.name === 'POST /v1/tasks');
    expect(request).toMatchObject({ service: 'orchestrator', parentSpanId: 'b7ad6b7169203331', attributes: expect.objectContaining({ 'http.response.status_code': 202 }) });

    // Every message hop links a consumer to the producer span that published it.
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    const consumers = spans.filter((span) => span.kind === SPAN_KIND.consumer && !span.name.includes('task.'));
    expect(consumers.length).toBeGreaterThanOrEqual(2 * steps.length);
    for (const consumer of consumers) expect(byId.get(consumer.parentSpanId ?? '')?.kind).toBe(SPAN_KIND.producer);
    const hop = (from: string, to: string) => consumers.some((span) => span.service === to && byId.get(span.parentSpanId ?? '')?.service === from);
    expect([hop('orchestrator', 'research-agent'), hop('research-agent', 'orchestrator'), hop('orchestrator', 'writer-agent'), hop('writer-agent', 'orchestrator')]).toEqual([true, true, true, true]);

    // One GenAI client span per model call, inside the agent's handling of its step.
    const calls = spans.filter((span) => span.kind === SPAN_KIND.client);
    expect(calls).toHaveLength(steps.length);
    for (const call of calls) {
      expect(call.attributes).toMatchObject({
        'gen_ai.provider.name': 'anthropic',
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': expect.stringMatching(/^claude-/),
        'gen_ai.response.model': expect.stringMatching(/^claude-/),
        'gen_ai.usage.input_tokens': expect.any(Number),
        'gen_ai.usage.output_tokens': expect.any(Number),
        'gen_ai.usage.cache_read.input_tokens': expect.any(Number),
        'gen_ai.usage.cache_creation.input_tokens': expect.any(Number),
      });
      expect(call.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
      expect(byId.get(call.parentSpanId ?? '')).toMatchObject({ kind: SPAN_KIND.consumer, service: call.service });
    }

    // Log lines of the agents' work name the service, trace, span, task and step.
    const stepIds = new Set(steps.map((step) => step.id));
    const lines = stack.agents.flatMap((agent) => agent.logs.map((line) => JSON.parse(line) as Record<string, unknown>));
    const stepLines = lines.filter((line) => line['taskId'] === id);
    expect(stepLines.length).toBeGreaterThanOrEqual(steps.length);
    for (const line of stepLines) {
      expect(line).toMatchObject({ service: expect.stringMatching(/-agent$/), traceId: TRACE_ID, spanId: expect.stringMatching(/^[0-9a-f]{16}$/) });
      expect(stepIds.has(line['stepId'] as string)).toBe(true);
    }
  }, 60_000);

  it('marks a failed model call on its span with error.type', async () => {
    const id = await overloadedOnce();
    expect((await stack.waitForTask(id, key)).status).toBe('completed');
    const [row] = await stack.rows(`SELECT trace_id FROM tasks WHERE id = $1`, [id]);
    const spans = await receiver.waitFor((all) => all.some((span) => span.traceId === row.trace_id && span.kind === SPAN_KIND.client && span.statusCode === 2));
    const failed = spans.find((span) => span.traceId === row.trace_id && span.kind === SPAN_KIND.client && span.statusCode === 2);
    expect(failed?.attributes).toMatchObject({ 'error.type': 'overloaded' });
  }, 90_000);

  it('exposes every metric of the catalog on /metrics with values that follow from the tasks run', async () => {
    const cap = await stack.call('/v1/budgets', { method: 'PUT', key: STACK_ADMIN_KEY, body: JSON.stringify({ scope: 'tenant', tenant: 'acme', period: 'month', limitUsd: '5' }) });
    expect(cap.status).toBe(201);
    const tasks = [await stack.submit(key, { workflow: 'brief', input: { goal: 'Metrics with a budget' } }), await overloadedOnce()];
    for (const id of tasks) expect((await stack.waitForTask(id, key)).status).toBe('completed');
    const [orchestrator = '', research = '', writer = ''] = await Promise.all(['orchestrator', 'research-agent', 'writer-agent'].map(metricsOf));
    /** The sum over every series of `name` with these labels (whatever their other labels), undefined when there is none. */
    const sample = (text: string, name: string, labels: Record<string, string> = {}) => {
      const lines = text
        .split('\n')
        .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
        .filter((line) => Object.entries(labels).every(([label, value]) => line.includes(`${label}="${value}"`)));
      return lines.length === 0 ? undefined : lines.reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    };

    expect(sample(orchestrator, 'http_server_requests_total', { route: '/v1/tasks', method: 'POST', status: '202' })).toBeGreaterThanOrEqual(2);
    expect(sample(orchestrator, 'http_server_request_duration_seconds_count', { route: '/v1/tasks/:id', status: '200' })).toBeGreaterThan(0);
    expect(sample(orchestrator, 'atelier_tasks_total', { status: 'completed' })).toBeGreaterThanOrEqual(2);
    // Sampled from JetStream every few seconds: drained once the tasks are done.
    for (const agent of ['research', 'writer']) expect(await waitForSample(() => metricsOf('orchestrator'), 'atelier_queue_depth', { agent }, (value) => value === 0)).toBe(0);
    expect(sample(orchestrator, 'atelier_audit_seal_lag_seconds')).toBeGreaterThanOrEqual(0);
    // Each hot-path statement's round trip, by its prepared statement's name.
    expect(sample(orchestrator, 'atelier_db_statement_duration_seconds_count', { statement: 'task.submit.v2' })).toBeGreaterThanOrEqual(2);
    expect(sample(orchestrator, 'atelier_db_statement_duration_seconds_sum', { statement: 'task.submit.v2' })).toBeGreaterThan(0);
    const utilization = await waitForSample(() => metricsOf('orchestrator'), 'atelier_budget_utilization_ratio', { scope: 'tenant' }, (value) => value > 0);
    expect(utilization).toBeGreaterThan(0);
    expect(utilization).toBeLessThanOrEqual(1);

    for (const [agent, text] of [['research', research], ['writer', writer]] as const) {
      expect(sample(text, 'atelier_steps_total', { agent, outcome: 'completed' })).toBeGreaterThanOrEqual(2);
      expect(sample(text, 'atelier_step_duration_seconds_count', { agent })).toBeGreaterThanOrEqual(2);
      // A first delivery's claim rides in its first model call's reservation.
      expect(sample(text, 'atelier_db_statement_duration_seconds_count', { statement: 'atelier_spend_reserve_claiming_v1' })).toBeGreaterThanOrEqual(2);
      expect(sample(text, 'gen_ai_client_token_usage_count', { gen_ai_token_type: 'output', gen_ai_provider_name: 'anthropic' })).toBeGreaterThanOrEqual(2);
      expect(sample(text, 'gen_ai_client_token_usage_sum', { gen_ai_token_type: 'input' })).toBeGreaterThan(0);
      expect(sample(text, 'gen_ai_client_operation_duration_seconds_count', { gen_ai_operation_name: 'chat', error_type: '' })).toBeGreaterThanOrEqual(2);
      expect(sample(text, 'atelier_llm_cost_usd_total')).toBeGreaterThan(0);
      expect(sample(text, 'atelier_circuit_state', { model: 'claude-sonnet-5-5' })).toBe(0);
      expect(sample(text, 'http_server_requests_total', { route: '/health/ready' })).toBeGreaterThan(0);
    }
    // The 529 went to the fallback: counted as a fallback, its failed attempt by error type.
    expect(sample(research, 'atelier_llm_fallbacks_total', { from_model: 'claude-sonnet-5-5', to_model: 'claude-haiku-5-5', reason: 'overloaded' })).toBeGreaterThanOrEqual(1);
    expect(sample(research, 'gen_ai_client_operation_duration_seconds_count', { error_type: 'overloaded' })).toBeGreaterThanOrEqual(1);
    // Counters that nothing has moved yet are still declared, so dashboards and alerts find them.
    expect(research).toContain('# TYPE atelier_llm_retries_total counter');
  }, 60_000);

  it('leaves no trace of an API key or a password from a task input in any log line, error body or audit event', async () => {
    const goal = `Summarise our vendor contracts. Use api key ${ANTHROPIC_KEY} and password=${PASSWORD} for the portal.`;
    const id = await stack.submit(key, { workflow: 'brief', input: { goal }, metadata: { apiKey: ANTHROPIC_KEY, note: `password=${PASSWORD}` } });
    await stack.waitForTask(id, key);
    // A request the API refuses must not echo them either.
    const refused = await stack.call('/v1/tasks', { method: 'POST', key, body: JSON.stringify({ input: { goal, extra: ANTHROPIC_KEY }, budgetUsd: `password=${PASSWORD}` }) });
    expect(refused.status).toBe(400);
    const errorBody = await refused.text();

    const audit = await stack.json(`/v1/audit?task=${id}&limit=200`, { key });
    await new Promise((resolve) => setTimeout(resolve, 500)); // the last log lines of the task's end
    const everything = [errorBody, JSON.stringify(audit), JSON.stringify(await stack.rows(`SELECT data FROM audit_events`)), ...services().flatMap((service) => service.logs)].join('\n');
    expect(audit.items.length).toBeGreaterThan(0);
    expect(everything).not.toContain(ANTHROPIC_KEY);
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(ANTHROPIC_KEY.slice(0, 24));
  }, 60_000);
});

/** Gauges refreshed on a timer (queue depth, budget utilization) may lag the tasks by an interval: the first value `accept` takes. */
async function waitForSample(
  read: () => Promise<string>,
  name: string,
  labels: Record<string, string>,
  accept: (value: number) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = (await read()).split('\n').find((candidate) => candidate.startsWith(`${name}{`) && Object.entries(labels).every(([label, value]) => candidate.includes(`${label}="${value}"`)));
    const value = line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    if ((value !== undefined && accept(value)) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
