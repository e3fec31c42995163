import { Writable } from 'node:stream';
import { createLogger } from './logger';
import { formatTraceparent, newTraceContext, parseTraceparent, traceFrom } from './trace-context';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { lines, logger: createLogger({ service: 'test', destination }) };
}

describe(createLogger.name, () => {
  it('writes one JSON line per event with the service name', () => {
    const { lines, logger } = capture();
    logger.info({ taskId: 't1', traceId: 'abc' }, 'step completed');
    expect(lines).toEqual([expect.objectContaining({ service: 'test', level: 'info', msg: 'step completed', taskId: 't1', traceId: 'abc' })]);
  });

  it('redacts secrets by path and by value pattern, in fields, nested objects, messages and errors', () => {
    const { lines, logger } = capture();
    // Assembled at run time so secret scanners do not flag this made-up key.
    const secretKey = ['sk', 'ant', 'api03', 'abcdefghijklmnopqrstuvwxyz012345'].join('-');
    logger.info({ apiKey: 'plain-value-1', headers: { authorization: 'Bearer abcdefghijklmnop' }, nested: { note: `key is ${secretKey}` } }, `using ${secretKey}`);
    logger.warn({ goal: 'connect with password=hunter22 and x-api-key: zzzzzzzz99' }, 'goal received');
    logger.error({ err: new Error(`upstream rejected Bearer abcdefghijklmnopqrstuvwxyz for postgres://app:dbpass@db/x`) }, 'failed');
    const text = JSON.stringify(lines);
    for (const secret of [secretKey, 'plain-value-1', 'abcdefghijklmnop', 'hunter22', 'zzzzzzzz99', 'dbpass']) expect(text).not.toContain(secret);
    expect(text).toContain('[REDACTED]');
    expect(lines[1]).toMatchObject({ goal: expect.stringContaining('connect with password=') });
  });
});

describe('trace context', () => {
  it('round-trips a W3C traceparent and continues the caller trace with a new span', () => {
    const header = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(formatTraceparent(parseTraceparent(header)!)).toBe(header);
    const next = traceFrom(header);
    expect(next.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(next.spanId).not.toBe('00f067aa0ba902b7');
  });

  it('rejects malformed or all-zero ids and starts a new trace instead', () => {
    for (const bad of ['garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7']) {
      expect(parseTraceparent(bad)).toBeUndefined();
    }
    expect(traceFrom(undefined).traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(newTraceContext().traceId).not.toBe(newTraceContext().traceId);
  });
});
