import { CommonEnv, ConfigError, loadConfig } from './config';

describe(loadConfig.name, () => {
  const valid = { DATABASE_URL: 'postgresql://app:s3cret@db:5432/atelier' };

  it('applies defaults to a minimal valid environment', () => {
    const config = loadConfig(CommonEnv, valid);
    expect(config).toMatchObject({ NATS_URL: 'nats://127.0.0.1:4222', LOG_LEVEL: 'info', DATABASE_POOL_MAX: 10 });
  });

  it('names every bad variable on its own line and never echoes a secret value', () => {
    const attempt = () => loadConfig(CommonEnv, { DATABASE_URL: 'mysql://root:hunter22@db/x', NATS_URL: 'http://nats:4222', LOG_LEVEL: 'loud', DATABASE_POOL_MAX: '0' });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (error) {
      const lines = (error as ConfigError).message.split('\n');
      expect(lines).toEqual([
        expect.stringMatching(/^config: DATABASE_URL must be a URL \(postgres, postgresql\)$/),
        expect.stringMatching(/^config: NATS_URL must be nats:\/\/ URLs/),
        expect.stringMatching(/^config: LOG_LEVEL /),
        expect.stringMatching(/^config: DATABASE_POOL_MAX /),
      ]);
      expect((error as ConfigError).message).not.toContain('hunter22');
    }
  });

  it('reports a missing required variable as required and treats empty as unset', () => {
    expect(() => loadConfig(CommonEnv, { DATABASE_URL: '' })).toThrow('config: DATABASE_URL is required');
  });

  it('takes OTLP over HTTP, protobuf or JSON, and refuses gRPC', () => {
    expect(loadConfig(CommonEnv, { ...valid, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).OTEL_EXPORTER_OTLP_PROTOCOL).toBe('http/json');
    expect(() => loadConfig(CommonEnv, { ...valid, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(
      'config: OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json',
    );
  });

  it('takes a test clock file only outside production, as an absolute path', () => {
    const test = { DATABASE_URL: 'postgresql://localhost/atelier', ATELIER_TEST_CLOCK_FILE: '/tmp/clock' };
    expect(loadConfig(CommonEnv, test).ATELIER_TEST_CLOCK_FILE).toBe('/tmp/clock');
    expect(() => loadConfig(CommonEnv, { ...test, NODE_ENV: 'production' })).toThrow('config: ATELIER_TEST_CLOCK_FILE is for tests only and refused when NODE_ENV=production');
    expect(() => loadConfig(CommonEnv, { ...test, ATELIER_TEST_CLOCK_FILE: 'clock' })).toThrow('config: ATELIER_TEST_CLOCK_FILE must be an absolute path');
    expect(loadConfig(CommonEnv, { DATABASE_URL: test.DATABASE_URL, NODE_ENV: 'production' }).ATELIER_TEST_CLOCK_FILE).toBeUndefined();
  });

  it('accepts several NATS servers', () => {
    expect(loadConfig(CommonEnv, { ...valid, NATS_URL: 'nats://a:4222, nats://b:4222' }).NATS_URL).toContain('nats://b:4222');
  });
});
