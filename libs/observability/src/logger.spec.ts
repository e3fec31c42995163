import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { createLogger } from './logger';
import { withLogFields } from './log-context';
import { captureLogs } from './test/log-capture';
import { startTracing, type Tracing } from './tracing';

// Assembled at run time so secret scanners do not flag these made-up credentials.
const ANTHROPIC_KEY = ['sk', 'ant', 'api03', 'Zq7vX2mN9pL4kR8sT1wY6uB3cD5eF0gH'].join('-');
const ATELIER_KEY = ['at', 'live9k2M7qW4xZ8nB5vC1rT6yU3'].join('_');
const PASSWORD = 'Hunter2-correct-horse';

describe(createLogger.name, () => {
  it('writes one JSON line per event with the service name', () => {
    const { lines, logger } = captureLogs();
    logger.info({ taskId: 't1' }, 'step completed');
    expect(lines).toEqual([expect.objectContaining({ service: 'test', level: 'info', msg: 'step completed', taskId: 't1' })]);
  });

  it('leaves no trace of an API key or a password that came in with a task', () => {
    const { text, logger } = captureLogs();
    const task = {
      workflow: 'research-report',
      input: { goal: `Log in with api key ${ANTHROPIC_KEY} and password=${PASSWORD}, then brief me on heat pumps` },
      metadata: { apiKey: ANTHROPIC_KEY, credentials: { user: 'ops', password: PASSWORD }, note: `"x-api-key": "${ANTHROPIC_KEY}"` },
    };
    logger.info({ task }, 'task submitted');
    logger.child({ goal: task.input.goal }).warn('task goal echoed by a child logger');
    logger.child({ taskId: 't1' }).child({ metadata: task.metadata }).info('grandchild keeps both bindings');
    logger.info('submitted %s', task.input.goal);
    logger.info({ headers: { authorization: `Bearer ${ATELIER_KEY}`, 'x-api-key': ANTHROPIC_KEY, cookie: 'session=abc' } }, 'request');
    logger.debug({ url: `postgresql://atelier:${PASSWORD}@db:5432/atelier?sslmode=require` }, 'connecting');
    logger.debug({ env: { DB_PASSWORD: PASSWORD, NATS_TOKEN: 'n4ts-t0ken-value' } }, 'environment');

    const output = text();
    for (const secret of [ANTHROPIC_KEY, ATELIER_KEY, PASSWORD, 'n4ts-t0ken-value', 'session=abc']) expect(output).not.toContain(secret);
    expect(output).toContain('brief me on heat pumps');
    expect(output).toContain('password=[REDACTED]');
    expect(output).toMatch(/"taskId":"t1".*"metadata":\{"apiKey":"\[REDACTED\]"/);
  });

  it('redacts secrets inside error messages, stacks, causes and errors under any field', () => {
    const { lines, text, logger } = captureLogs();
    const upstream = new Error(`401 invalid x-api-key: ${ANTHROPIC_KEY}`);
    const failure = new Error('model call failed', { cause: upstream });
    logger.error({ err: failure }, 'step failed');
    logger.error({ error: new Error(`connect failed for nats://worker:${PASSWORD}@nats:4222`), step: 's1' }, 'publish failed');
    logger.error({ err: new AggregateError([new Error(`token=${ATELIER_KEY}`)], 'several failed') }, 'batch failed');

    const output = text();
    for (const secret of [ANTHROPIC_KEY, ATELIER_KEY, PASSWORD]) expect(output).not.toContain(secret);
    expect(lines[0]).toMatchObject({ err: { type: 'Error', message: expect.stringContaining('model call failed: 401 invalid x-api-key: [REDACTED]') } });
    expect(lines[1]).toMatchObject({ error: { type: 'Error', message: 'connect failed for nats://worker:[REDACTED]@nats:4222' }, step: 's1' });
    expect(lines[2]).toMatchObject({ err: { errors: [expect.objectContaining({ message: 'token=[REDACTED]' })] } });
  });

  it('does not choke on cycles', () => {
    const { lines, logger } = captureLogs();
    const node: Record<string, unknown> = { name: 'a' };
    node['self'] = node;
    logger.info({ node }, 'cyclic');
    expect(lines[0]).toMatchObject({ node: { name: 'a', self: '[circular]' } });
  });

  describe('with tracing started', () => {
    let tracing: Tracing;
    beforeEach(() => {
      tracing = startTracing({ service: 'test', exporter: new InMemorySpanExporter() });
    });
    afterEach(() => tracing.shutdown());

    it('adds the active trace and span ids and the log fields of the unit of work', async () => {
      const { lines, logger } = captureLogs();
      await trace.getTracer('test').startActiveSpan('step', async (span) => {
        await withLogFields({ taskId: 'task-1', stepId: 'step-1' }, async () => {
          await new Promise((resolve) => setImmediate(resolve));
          logger.info('inside the step');
        });
        span.end();
        logger.info('after the fields');
      });
      logger.info('outside any span');
      const { traceId, spanId } = { traceId: lines[0]?.['traceId'], spanId: lines[0]?.['spanId'] };
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(lines[0]).toMatchObject({ taskId: 'task-1', stepId: 'step-1', msg: 'inside the step' });
      expect(lines[1]).toMatchObject({ traceId });
      expect(lines[1]).not.toHaveProperty('taskId');
      expect(lines[2]).not.toHaveProperty('traceId');
    });
  });
});
