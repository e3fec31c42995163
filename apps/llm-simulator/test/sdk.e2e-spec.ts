import Anthropic, {
  APIConnectionError,
  APIConnectionTimeoutError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  OverloadedError,
  RateLimitError,
} from '@anthropic-ai/sdk';
import { createSimulatorServer, type SimulatorServer } from '../src/simulator-server';

// The simulator as the agents see it: the real Anthropic SDK, unchanged, pointed at it
// with baseURL. Every error must surface as the class the real API would produce.

const MODEL = 'claude-sonnet-5-5';
const params = (text: string, extra: Partial<Anthropic.MessageCreateParamsNonStreaming> = {}): Anthropic.MessageCreateParamsNonStreaming => ({
  model: MODEL,
  max_tokens: 512,
  system: 'You are a research analyst.',
  messages: [{ role: 'user', content: `Goal: test the simulator\n\nQuestion: ${text}` }],
  ...extra,
});

describe('llm-simulator through @anthropic-ai/sdk', () => {
  let server: SimulatorServer;
  let url: string;
  let client: Anthropic;
  const extraServers: SimulatorServer[] = [];

  const control = async (path: string, method: string, body?: unknown) =>
    (await fetch(`${url}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) })).json();

  beforeAll(async () => {
    server = createSimulatorServer({ hangMs: 10_000 });
    ({ url } = await server.listen());
    client = new Anthropic({ apiKey: 'test-key', baseURL: url, maxRetries: 0 });
  });
  beforeEach(() => control('/_sim/reset', 'POST'));
  afterAll(async () => {
    await Promise.all([server.close(), ...extraServers.map((extra) => extra.close())]);
  });

  async function startExtra(options: Parameters<typeof createSimulatorServer>[0]) {
    const extra = createSimulatorServer(options);
    extraServers.push(extra);
    const { url: extraUrl } = await extra.listen();
    return { extraUrl, extraClient: new Anthropic({ apiKey: 'test-key', baseURL: extraUrl, maxRetries: 0 }) };
  }

  it('answers messages.create with typed text, usage and a request id', async () => {
    const { data, response, request_id } = await client.messages.create(params('What limits battery range?')).withResponse();
    expect(data).toMatchObject({ type: 'message', role: 'assistant', model: MODEL, stop_reason: 'end_turn', stop_sequence: null });
    expect(data.id).toMatch(/^msg_sim_[0-9a-f]+$/);
    expect(data.content[0]).toEqual({ type: 'text', text: expect.stringContaining('## Findings: What limits battery range?') });
    expect(data.usage).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 0, service_tier: 'standard' });
    expect(data.usage.input_tokens).toBeGreaterThan(0);
    expect(data.usage.output_tokens).toBeGreaterThan(0);
    expect(request_id).toMatch(/^req_sim_[0-9a-f]+$/);
    expect(response.headers.get('request-id')).toBe(request_id);

    const again = await client.messages.create(params('What limits battery range?'));
    expect(again.content).toEqual(data.content);
    expect(again._request_id).toMatch(/^req_sim_/);
    expect(again._request_id).not.toBe(request_id);
  });

  it('streams the real event sequence, and the final message equals the non-streamed one', async () => {
    const request = params('How fast do the cells charge?');
    const stream = client.messages.stream(request);
    const types: string[] = [];
    const deltas: string[] = [];
    stream.on('streamEvent', (event) => types.push(event.type));
    stream.on('text', (delta) => deltas.push(delta));
    const streamed = await stream.finalMessage();
    const plain = await client.messages.create(request);

    expect(types.slice(0, 2)).toEqual(['message_start', 'content_block_start']);
    expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join('')).toBe(plain.content.map((block) => (block.type === 'text' ? block.text : '')).join(''));
    expect(stream.request_id).toMatch(/^req_sim_/);
    // parsed_output is the SDK's own addition to streamed messages, not part of the API's answer.
    const { id: _streamedId, parsed_output: _parsed, ...streamedRest } = streamed;
    const { id: _plainId, ...plainRest } = plain;
    expect(streamedRest).toEqual(plainRest);
  });

  it('counts the same input tokens as messages.create reports', async () => {
    const request = params('What does a bus depot need?', {
      system: [{ type: 'text', text: 'You are a research analyst.' }, { type: 'text', text: 'Be brief.' }],
      messages: [
        { role: 'user', content: 'Goal: depots' },
        { role: 'assistant', content: 'Understood.' },
        { role: 'user', content: [{ type: 'text', text: 'Question: What does a bus depot need?' }] },
      ],
    });
    const { input_tokens } = await client.messages.countTokens({ model: request.model, system: request.system, messages: request.messages });
    const created = await client.messages.create(request);
    expect(input_tokens).toBeGreaterThan(10);
    expect(created.usage.input_tokens).toBe(input_tokens);
  });

  it('truncates to max_tokens and says so', async () => {
    const message = await client.messages.create(params('What limits range?', { max_tokens: 5 }));
    expect(message.stop_reason).toBe('max_tokens');
    expect(message.usage.output_tokens).toBeLessThanOrEqual(5);
  });

  it.each([
    ['max_tokens missing', { max_tokens: undefined }, 'max_tokens: Field required'],
    ['max_tokens zero', { max_tokens: 0 }, 'max_tokens:'],
    ['max_tokens fractional', { max_tokens: 1.5 }, 'max_tokens:'],
    ['messages empty', { messages: [] }, 'messages: at least one message is required'],
    ['a system role in messages', { messages: [{ role: 'system', content: 'hi' }] }, 'messages.0.role:'],
    ['an image block', { messages: [{ role: 'user', content: [{ type: 'image', source: {} }] }] }, 'messages.0.content.0.type:'],
    ['a numeric system prompt', { system: 42 }, 'system:'],
    ['a bad cache_control', { system: [{ type: 'text', text: 'x', cache_control: { type: 'forever' } }] }, 'system.0.cache_control.type:'],
    ['model not a string', { model: 7 }, 'model:'],
  ])('rejects %s with 400 invalid_request_error naming the field', async (_case, change, message) => {
    const request = { ...params('q'), ...change } as unknown as Anthropic.MessageCreateParamsNonStreaming;
    const error = await client.messages.create(request).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining(message) } });
    expect((error as BadRequestError).requestID).toMatch(/^req_sim_/);
  });

  it('answers 404 not_found_error for a model that is not Claude, and for an unknown route', async () => {
    const error = await client.messages.create(params('q', { model: 'gpt-9' })).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).error).toMatchObject({ error: { type: 'not_found_error', message: 'model: gpt-9' } });
    const unknown = await fetch(`${url}/v1/nothing`, { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('request-id')).toMatch(/^req_sim_/);
    expect(await unknown.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' }, request_id: unknown.headers.get('request-id') });
  });

  it('rejects a body that is not JSON', async () => {
    const response = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'k' }, body: '{"model":' });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { type: 'invalid_request_error', message: expect.stringContaining('request body') } });
  });

  it('refuses a request without a key (401) and accepts x-api-key as well as Bearer', async () => {
    const anonymous = new Anthropic({ apiKey: null, authToken: null, baseURL: url, maxRetries: 0, defaultHeaders: { Authorization: null } });
    const error = await anonymous.messages.create(params('q')).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).error).toMatchObject({ error: { type: 'authentication_error' } });
    expect(JSON.stringify((error as AuthenticationError).error)).not.toContain('test-key');

    const withApiKeyHeader = await fetch(`${url}/v1/messages/count_tokens`, {
      method: 'POST',
      headers: { 'x-api-key': 'some-key' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(withApiKeyHeader.status).toBe(200);
  });

  it('raises RateLimitError with retry-after for a 429 fault', async () => {
    const error = await client.messages.create(params('q'), { headers: { 'x-sim-fault': '429', 'x-sim-retry-after': '7' } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).headers.get('retry-after')).toBe('7');
    expect((error as RateLimitError).error).toMatchObject({ error: { type: 'rate_limit_error' } });
  });

  it('raises BadRequestError for a 400 fault', async () => {
    const refused = await client.messages.create(params('q'), { headers: { 'x-sim-fault': '400' } }).catch((caught: unknown) => caught);
    expect(refused).toBeInstanceOf(BadRequestError);
    expect((refused as BadRequestError).error).toMatchObject({ error: { type: 'invalid_request_error' } });
  });

  it('raises OverloadedError (an InternalServerError) for 529 and InternalServerError for 500', async () => {
    const overloaded = await client.messages.create(params('q'), { headers: { 'x-sim-fault': '529' } }).catch((caught: unknown) => caught);
    expect(overloaded).toBeInstanceOf(OverloadedError);
    expect(overloaded).toBeInstanceOf(InternalServerError);
    expect((overloaded as OverloadedError).status).toBe(529);
    expect((overloaded as OverloadedError).error).toMatchObject({ error: { type: 'overloaded_error' } });
    const failed = await client.messages.create(params('q'), { headers: { 'x-sim-fault': '500' } }).catch((caught: unknown) => caught);
    expect(failed).toBeInstanceOf(InternalServerError);
    expect((failed as InternalServerError).status).toBe(500);
    expect((failed as InternalServerError).error).toMatchObject({ error: { type: 'api_error' } });
  });

  it('times the client out on a hang, and resets the connection on reset', async () => {
    const started = Date.now();
    await expect(client.messages.create(params('q'), { headers: { 'x-sim-fault': 'hang' }, timeout: 300 })).rejects.toBeInstanceOf(APIConnectionTimeoutError);
    expect(Date.now() - started).toBeLessThan(2_000);
    const reset = await client.messages.create(params('q'), { headers: { 'x-sim-fault': 'reset' } }).catch((caught: unknown) => caught);
    expect(reset).toBeInstanceOf(APIConnectionError);
    expect(reset).not.toBeInstanceOf(APIConnectionTimeoutError);
  });

  it('cuts a stream after some text, and the iteration rejects', async () => {
    const stream = client.messages.stream(params('How long do the cells last?'), { headers: { 'x-sim-fault': 'stream-cut' } });
    const deltas: string[] = [];
    const iterate = async () => {
      for await (const event of stream) if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') deltas.push(event.delta.text);
    };
    await expect(iterate()).rejects.toThrow();
    expect(deltas.length).toBeGreaterThan(0);
    await expect(stream.finalMessage()).rejects.toThrow();
  });

  it('cuts a non-streamed answer mid-body, and the call rejects', async () => {
    await expect(client.messages.create(params('q'), { headers: { 'x-sim-fault': 'stream-cut' } })).rejects.toThrow();
  });

  it('consumes scripted faults once, in order, only for matching requests', async () => {
    expect(await control('/_sim/faults', 'POST', { fault: '500', count: 2, match: 'flaky' })).toEqual({ queued: 2 });
    await expect(client.messages.create(params('a steady question'))).resolves.toMatchObject({ type: 'message' });
    await expect(client.messages.create(params('a flaky question'))).rejects.toBeInstanceOf(InternalServerError);
    await expect(client.messages.create(params('a flaky question'))).rejects.toBeInstanceOf(InternalServerError);
    await expect(client.messages.create(params('a flaky question'))).resolves.toMatchObject({ type: 'message' });

    await control('/_sim/faults', 'POST', { fault: '429', retryAfterSeconds: 1 });
    const limited = await client.messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }).catch((caught: unknown) => caught);
    expect((limited as RateLimitError).headers.get('retry-after')).toBe('1');

    await control('/_sim/faults', 'POST', { fault: 'reset', count: 5 });
    expect(await control('/_sim/faults', 'DELETE')).toEqual({ queued: 0 });
    await expect(client.messages.create(params('q'))).resolves.toMatchObject({ type: 'message' });
    expect(await control('/_sim/stats', 'GET')).toEqual({ requests: 6, messages: 5, countTokens: 1, faultsInjected: 3, byModel: { [MODEL]: 5 } });
  });

  it('honours a fault directive in the text, below a header', async () => {
    const directed = params('Will this fail? [[sim:fault=429]]');
    await expect(client.messages.create(directed)).rejects.toBeInstanceOf(RateLimitError);
    await expect(client.messages.create(directed, { headers: { 'x-sim-fault': '500' } })).rejects.toHaveProperty('status', 500);
    // count_tokens is not a model call: a directive does not touch it.
    await expect(client.messages.countTokens({ model: MODEL, messages: directed.messages })).resolves.toHaveProperty('input_tokens');
  });

  it('waits the requested latency', async () => {
    const started = Date.now();
    await client.messages.create(params('q'), { headers: { 'x-sim-latency-ms': '150' } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('writes a cache_control prefix once, then reads it', async () => {
    const system: Anthropic.TextBlockParam[] = [
      { type: 'text', text: 'You are a research analyst. '.repeat(40), cache_control: { type: 'ephemeral' } },
    ];
    const first = await client.messages.create(params('First question?', { system }));
    const second = await client.messages.create(params('Second question?', { system }));
    const { input_tokens: total } = await client.messages.countTokens({ model: MODEL, system, messages: params('Second question?').messages });
    expect(first.usage.cache_creation_input_tokens).toBeGreaterThan(100);
    expect(first.usage.cache_read_input_tokens).toBe(0);
    expect(second.usage.cache_creation_input_tokens).toBe(0);
    expect(second.usage.cache_read_input_tokens).toBe(first.usage.cache_creation_input_tokens);
    expect(second.usage.input_tokens + (second.usage.cache_read_input_tokens ?? 0)).toBe(total);
  });

  it('applies an environment fault at a deterministic rate to messages only', async () => {
    const { extraClient } = await startExtra({ fault: '529', faultRate: 0.5 });
    const outcomes: string[] = [];
    for (let call = 0; call < 4; call += 1) {
      outcomes.push(await extraClient.messages.create(params('q')).then(() => 'ok', (error: { status?: number }) => String(error.status)));
    }
    expect(outcomes).toEqual(['ok', '529', 'ok', '529']);
    await expect(extraClient.messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] })).resolves.toHaveProperty('input_tokens');
  });

  it('delays by the configured latency, per output token spread across the stream', async () => {
    const { extraClient } = await startExtra({ latencyMs: 40, latencyPerTokenMs: 1 });
    let started = Date.now();
    const message = await extraClient.messages.create(params('q'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(40 + message.usage.output_tokens - 10);

    started = Date.now();
    const arrivals: number[] = [];
    const stream = extraClient.messages.stream(params('q'));
    stream.on('text', () => arrivals.push(Date.now() - started));
    await stream.finalMessage();
    const [first = 0] = arrivals;
    expect(first).toBeGreaterThanOrEqual(40);
    expect(Math.max(...arrivals) - first).toBeGreaterThanOrEqual(message.usage.output_tokens / 2);
  });

  it('refuses bodies over the size limit with 413 request_too_large', async () => {
    const { extraUrl } = await startExtra({ maxBodyBytes: 1024 });
    const response = await fetch(`${extraUrl}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'k' }, body: 'x'.repeat(4096) });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { type: 'request_too_large' } });
  });

  it('answers /health and validates scripted faults', async () => {
    expect(await control('/health', 'GET')).toEqual({ ok: true });
    const bad = await fetch(`${url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ fault: 'explode' }) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { message: expect.stringContaining('fault:') } });
  });
});
