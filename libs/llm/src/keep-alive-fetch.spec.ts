import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
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

// A socket the server is about to close is not handed to the next request: taken while the
// server's close was still unread, it failed that request with ECONNRESET.
describe('createKeepAliveFetch with a server that announces its keep-alive timeout', () => {
  let server: Server;
  let url: string;
  let connections = 0;

  beforeAll(async () => {
    server = createServer((request, response) => {
      request.resume();
      const delayMs = Number(request.headers['x-delay-ms'] ?? 0);
      request.on('end', () => setTimeout(() => response.end('{"ok":true}'), delayMs));
    });
    server.keepAliveTimeout = 2_000; // announced as `Keep-Alive: timeout=2`
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const post = async (fetch: typeof globalThis.fetch, delayMs = 0) => (await fetch(url, { method: 'POST', body: '{}', headers: { 'x-delay-ms': String(delayMs) } })).json();

  it('reuses a socket while it is fresh and closes it a second before the server would', async () => {
    const fetch = createKeepAliveFetch();
    const before = connections;
    await post(fetch);
    await sleep(200);
    await post(fetch);
    expect(connections - before).toBe(1);
    await sleep(1_500); // past the 1 s left of the server's 2 s: the client has let the socket go
    await post(fetch);
    expect(connections - before).toBe(2);
  });

  it('does not cut a request that runs longer than a socket may idle', async () => {
    const fetch = createKeepAliveFetch();
    await post(fetch);
    await expect(post(fetch, 1_500)).resolves.toEqual({ ok: true });
  });
});
