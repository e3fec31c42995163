import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type LlmSimulatorProcess, startLlmSimulator } from '@atelier/testing';
import { AnthropicGateway, LlmCallError } from './anthropic-gateway';
import { loadPricing, UnknownModelError } from './pricing';
import { promptTokensUpperBound } from './prompt';

// The real SDK over HTTP against the simulator, which counts tokens and caches prompts
// the way the API bills them.
describe(AnthropicGateway.name, () => {
  let simulator: LlmSimulatorProcess;
  let gateway: AnthropicGateway;
  const pricing = loadPricing();

  beforeAll(async () => {
    simulator = await startLlmSimulator();
    gateway = new AnthropicGateway({ apiKey: 'test-key', baseURL: simulator.url, timeoutMs: 10_000, pricing });
  });

  afterAll(() => simulator?.stop());

  const stats = async () => (await (await fetch(`${simulator.url}/_sim/stats`)).json()) as { messages: number; countTokens: number };

  it('counts exactly the prompt it then sends, cached parts included', async () => {
    const request = { model: 'claude-sonnet-5-5', system: `You are a research analyst. ${randomUUID()}`, context: 'Findings: batteries are heavy.', prompt: 'Goal: buses', maxTokens: 64, cacheTtl: '5m' as const };
    const counted = await gateway.countTokens(request);
    const reply = await gateway.complete(request);
    const { inputTokens, cacheCreationInputTokens, cacheReadInputTokens } = reply.usage;
    expect(inputTokens + cacheCreationInputTokens + cacheReadInputTokens).toBe(counted);
  });

  it('sends the system prompt and shared context as cached blocks, and prices writes by TTL and reads at their rate', async () => {
    const system = `You are a technical writer. ${randomUUID()}`;
    const first = await gateway.complete({ model: 'claude-sonnet-5-5', system, context: 'Shared findings block.', prompt: 'Goal: one', maxTokens: 64, cacheTtl: '1h' });
    expect(first.usage.cacheCreationInputTokens).toBeGreaterThan(0);
    expect(first.usage.cacheCreation1hInputTokens).toBe(first.usage.cacheCreationInputTokens);
    expect(first.usage.cacheReadInputTokens).toBe(0);

    const second = await gateway.complete({ model: 'claude-sonnet-5-5', system, context: 'Shared findings block.', prompt: 'Goal: two', maxTokens: 64, cacheTtl: '1h' });
    expect(second.usage.cacheReadInputTokens).toBe(first.usage.cacheCreationInputTokens);
    expect(second.usage.cacheCreationInputTokens).toBe(0);
    expect(second.costUsd.equals(pricing.costOf('claude-sonnet-5-5', second.usage))).toBe(true);
    expect(first.costUsd.equals(pricing.costOf('claude-sonnet-5-5', first.usage))).toBe(true);
    // The cached prefix is billed 2× input on the write and 0.05× on the read.
    expect(second.costUsd.lessThan(first.costUsd)).toBe(true);

    const uncached = await gateway.complete({ model: 'claude-sonnet-5-5', system, prompt: 'Goal: three', maxTokens: 64 });
    expect(uncached.usage.cacheCreationInputTokens + uncached.usage.cacheReadInputTokens).toBe(0);
  });

  it('refuses an unpriced model before any request leaves', async () => {
    const before = await stats();
    await expect(gateway.complete({ model: 'claude-sonnet-5-5-preview', system: 's', prompt: 'p', maxTokens: 8 })).rejects.toThrow(UnknownModelError);
    expect((await stats()).messages).toBe(before.messages);
  });

  it('tells an answered error from a call that never answered', async () => {
    const answered = await gateway.complete({ model: 'claude-haiku-5-5', system: 's', prompt: 'p [[sim:fault=529]]', maxTokens: 8 }).catch((error: unknown) => error);
    expect(answered).toBeInstanceOf(LlmCallError);
    expect((answered as LlmCallError).answered).toBe(true);
    const controller = new AbortController();
    const pending = gateway.complete({ model: 'claude-haiku-5-5', system: 's', prompt: 'p [[sim:latency=5000]]', maxTokens: 8, signal: controller.signal }).catch((error: unknown) => error);
    setTimeout(() => controller.abort(), 50);
    const unanswered = await pending;
    expect(unanswered).toBeInstanceOf(LlmCallError);
    expect((unanswered as LlmCallError).answered).toBe(false);
  });

  it('takes a timeout status or an answer without the provider\'s request-id for a call that may have been billed', async () => {
    // A proxy between us and the API: real HTTP through the SDK, answering as proxies do.
    const answers: Record<string, { status: number; headers: Record<string, string>; body: string }> = {
      '/proxy-504/v1/messages': { status: 504, headers: { 'content-type': 'text/html' }, body: '<html>504 Gateway Time-out</html>' },
      '/proxy-502/v1/messages': { status: 502, headers: { 'content-type': 'text/html' }, body: '<html>502 Bad Gateway</html>' },
      '/api-408/v1/messages': { status: 408, headers: { 'content-type': 'application/json', 'request-id': 'req_408' }, body: JSON.stringify({ type: 'error', error: { type: 'timeout_error', message: 'timeout' } }) },
      '/api-400/v1/messages': { status: 400, headers: { 'content-type': 'application/json', 'request-id': 'req_400' }, body: JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'bad' } }) },
    };
    const proxy = createServer((request, response) => {
      request.resume();
      const answer = answers[request.url ?? ''] ?? { status: 404, headers: {}, body: '' };
      response.writeHead(answer.status, answer.headers).end(answer.body);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    try {
      const failureThrough = async (prefix: string) => {
        const through = new AnthropicGateway({ apiKey: 'test-key', baseURL: `http://127.0.0.1:${port}${prefix}`, timeoutMs: 5_000, pricing });
        const error = await through.complete({ model: 'claude-haiku-5-5', system: 's', prompt: 'p', maxTokens: 8 }).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(LlmCallError);
        return error as LlmCallError;
      };
      const [gatewayTimeout, badGateway, requestTimeout, badRequest] = await Promise.all(['/proxy-504', '/proxy-502', '/api-408', '/api-400'].map(failureThrough));
      expect({ status: gatewayTimeout.classification.status, answered: gatewayTimeout.answered }).toEqual({ status: 504, answered: false });
      expect({ status: badGateway.classification.status, answered: badGateway.answered }).toEqual({ status: 502, answered: false });
      expect({ status: requestTimeout.classification.status, answered: requestTimeout.answered, requestId: requestTimeout.requestId }).toEqual({ status: 408, answered: false, requestId: 'req_408' });
      expect({ status: badRequest.classification.status, answered: badRequest.answered }).toEqual({ status: 400, answered: true });
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('over-estimates prompt tokens safely when count_tokens cannot answer', async () => {
    const texts = ['plain words in English', 'x'.repeat(3_000), 'ünïcödé ✓ 漢字 😀 '.repeat(50), 'a b c d e f g h i j k l m n o p', ''];
    for (const text of texts) {
      const request = { model: 'claude-haiku-5-5', system: text || 's', context: text, prompt: text || 'p', maxTokens: 8 };
      expect(promptTokensUpperBound(request)).toBeGreaterThanOrEqual(await gateway.countTokens(request));
    }
  });
});
