// Cost of the resilience and observability layers per model call and per log line,
// measured on the built code: `npm run build && node bench/policy-and-logging-overhead.bench.mjs`.
// The model call itself is a resolved promise, so the figures are pure overhead.
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';

const require = createRequire(import.meta.url);
const resilience = require('../dist/libs/resilience/src/index.js');
const observability = require('../dist/libs/observability/src/index.js');
const pino = require('pino');

async function perOp(label, iterations, fn) {
  for (let i = 0; i < Math.min(iterations, 2_000); i++) await fn(i); // warm-up
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn(i);
  const micros = Number(process.hrtime.bigint() - started) / 1_000 / iterations;
  console.log(`${label.padEnd(58)} ${micros.toFixed(2).padStart(8)} µs/op`);
  return micros;
}

const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() });
const settings = resilience.resolveCallPolicy(resilience.DEFAULT_LLM_POLICY, 'writer.draft', 'claude-sonnet-5-5');
const breakers = new resilience.CircuitBreakerRegistry(resilience.DEFAULT_LLM_POLICY.breaker);
const policy = new resilience.LlmCallPolicy({ bulkhead: resilience.DEFAULT_LLM_POLICY.bulkhead, breakers });
const reply = { text: 'ok' };

await perOp('model call, bare', 50_000, async () => reply);
await perOp('model call through LlmCallPolicy (all policies)', 50_000, () => policy.execute(settings, async () => reply));

const task = { taskId: 't1', stepId: 's1', input: { goal: 'Brief me on heat pumps for older houses, with sources' }, metadata: { team: 'energy' } };
const plain = pino({ base: { service: 'bench' } }, sink());
await perOp('log line, plain pino', 50_000, async () => plain.info({ task }, 'task submitted'));
const redacting = observability.createLogger({ service: 'bench', destination: sink() });
await perOp('log line, createLogger (redaction + context fields)', 50_000, async () => redacting.info({ task }, 'task submitted'));

const tracing = observability.startTracing({ service: 'bench' });
await perOp('log line, createLogger inside an active span', 50_000, () =>
  observability.withSpan('step', {}, async () => redacting.info({ task }, 'task submitted')),
);
await perOp('withSpan around a resolved promise (no exporter)', 50_000, () => observability.withSpan('step', {}, async () => reply));
await tracing.shutdown();
breakers.dispose();
