import Anthropic from '@anthropic-ai/sdk';
import { startLlmSimulator, type LlmSimulatorProcess } from '@atelier/testing';
import { createKeepAliveFetch } from './keep-alive-fetch';

// The SDK over the keep-alive fetch behaves as over the built-in one: replies, headers,
// error classes, streaming, timeouts and aborts.
describe(createKeepAliveFetch.name, () => {
  let simulator: LlmSimulatorProcess;
  let client: Anthropic;
  const params = { model: 'claude-haiku-5-5', max_tokens: 256, system: 'You are a research analyst.', messages: [{ role: 'user' as const, content: 'Question: heat pumps' }] };

  beforeAll(async () => {
    simulator = await startLlmSimulator();
    client = new Anthropic({ apiKey: 'test-key', baseURL: simulator.url, maxRetries: 0, timeout: 10_000, fetch: createKeepAliveFetch() });
  });

  afterAll(() => simulator?.stop());

  it('returns the message with its request id and usage', async () => {
    const { data, request_id } = await client.messages.create(params).withResponse();
    expect(data.content[0]).toMatchObject({ type: 'text', text: expect.stringContaining('## Findings:') });
    expect(data.usage.output_tokens).toBeGreaterThan(0);
    expect(request_id).toMatch(/^req_sim_/);
  });

  it('surfaces API errors as the SDK classes, with their headers', async () => {
    const error = await client.messages.create(params, { headers: { 'x-sim-fault': '429', 'x-sim-retry-after': '3' } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    expect((error as InstanceType<typeof Anthropic.RateLimitError>).headers?.get('retry-after')).toBe('3');
    await expect(client.messages.create(params, { headers: { 'x-sim-fault': '529' } })).rejects.toBeInstanceOf(Anthropic.InternalServerError);
  });

  it('streams', async () => {
    const stream = client.messages.stream(params);
    const text = await stream.finalText();
    expect(text).toContain('## Findings:');
  });

  it('times out and aborts like the built-in fetch', async () => {
    const hanging = client.messages.create(params, { headers: { 'x-sim-fault': 'hang' }, timeout: 300 });
    await expect(hanging).rejects.toBeInstanceOf(Anthropic.APIConnectionTimeoutError);
    const controller = new AbortController();
    const aborted = client.messages.create(params, { headers: { 'x-sim-latency-ms': '5000' }, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await expect(aborted).rejects.toBeInstanceOf(Anthropic.APIUserAbortError);
  });

  it('reports a refused connection as a connection error', async () => {
    const nowhere = new Anthropic({ apiKey: 'test-key', baseURL: 'http://127.0.0.1:9', maxRetries: 0, fetch: createKeepAliveFetch() });
    await expect(nowhere.messages.create(params)).rejects.toBeInstanceOf(Anthropic.APIConnectionError);
  });
});
