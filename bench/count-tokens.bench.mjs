// What counting prompt tokens before every reservation costs (LLM_COUNT_TOKENS=on).
//
//   npm run build && node bench/count-tokens.bench.mjs [--calls 400] [--concurrency 16] [--context-chars 20000]
//
// Against the built simulator through the real SDK: the latency of count_tokens beside
// the latency of the model call itself (with no simulated model latency, so the call
// figure is pure HTTP + SDK overhead, the floor of a real call), and how much a byte-based
// over-estimate (LLM_COUNT_TOKENS=off) inflates the reservation instead.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { AnthropicGateway, loadPricing, promptTokensUpperBound } = require(join(root, 'dist/libs/llm/src/index.js'));
const { startLlmSimulator } = require(join(root, 'dist/libs/testing/src/index.js'));

const { values: args } = parseArgs({ options: { calls: { type: 'string', default: '400' }, concurrency: { type: 'string', default: '16' }, 'context-chars': { type: 'string', default: '0' } } });
const CALLS = Number(args.calls);
const CONCURRENCY = Number(args.concurrency);
/** Shared context (findings, a draft) of this many characters: where counting pays off. */
const CONTEXT = Array.from({ length: Number(args['context-chars']) }, (_, i) => 'findings about installers and radiators '[i % 40]).join('');
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)].toFixed(2);
};

const simulator = await startLlmSimulator();
try {
  const pricing = loadPricing();
  const gateway = new AnthropicGateway({ apiKey: 'bench', baseURL: simulator.url, timeoutMs: 30_000, pricing });
  const request = (i) => ({
    model: 'claude-sonnet-5-5',
    system: 'You are a research analyst. Investigate the question in service of the goal.',
    ...(CONTEXT ? { context: CONTEXT } : {}),
    prompt: `Goal: heat pumps in older houses, part ${i}\n\nQuestion: what do installers get wrong most often, and why?`,
    maxTokens: 2048,
    cacheTtl: '5m',
  });
  const count = [];
  const call = [];
  const inflation = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < CALLS; i = next++) {
      let started = performance.now();
      const tokens = await gateway.countTokens(request(i));
      count.push(performance.now() - started);
      started = performance.now();
      await gateway.complete(request(i));
      call.push(performance.now() - started);
      const counted = pricing.worstCaseCost('claude-sonnet-5-5', { promptTokens: tokens, maxTokens: 2048, cacheTtl: '5m' });
      const estimated = pricing.worstCaseCost('claude-sonnet-5-5', { promptTokens: promptTokensUpperBound(request(i)), maxTokens: 2048, cacheTtl: '5m' });
      inflation.push(estimated.dividedBy(counted).toNumber());
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  console.log(
    JSON.stringify({
      calls: CALLS,
      concurrency: CONCURRENCY,
      contextChars: CONTEXT.length,
      countTokensMs: { p50: percentile(count, 0.5), p99: percentile(count, 0.99) },
      modelCallMs: { p50: percentile(call, 0.5), p99: percentile(call, 0.99) },
      reservationWithoutCounting: `${(inflation.reduce((a, b) => a + b, 0) / inflation.length).toFixed(3)}× the counted worst case`,
    }),
  );
} finally {
  await simulator.stop();
}
