import { loadSimulatorConfig } from './config';

describe(loadSimulatorConfig.name, () => {
  it('has working defaults', () => {
    expect(loadSimulatorConfig({})).toEqual({
      port: 8090,
      host: '127.0.0.1',
      latencyMs: 0,
      latencyPerTokenMs: 0,
      fault: undefined,
      faultRate: 1,
      retryAfterSeconds: 2,
      hangMs: 600_000,
    });
  });

  it('reads every variable', () => {
    expect(
      loadSimulatorConfig({
        PORT: '0',
        HOST: '0.0.0.0',
        SIM_LATENCY_MS: '25',
        SIM_LATENCY_PER_TOKEN_MS: '2',
        SIM_FAULT: 'stream-cut',
        SIM_FAULT_RATE: '0.25',
        SIM_RETRY_AFTER_SECONDS: '0.5',
        SIM_HANG_MS: '1000',
      }),
    ).toEqual({ port: 0, host: '0.0.0.0', latencyMs: 25, latencyPerTokenMs: 2, fault: 'stream-cut', faultRate: 0.25, retryAfterSeconds: 0.5, hangMs: 1000 });
    expect(loadSimulatorConfig({ SIM_FAULT: 'none' }).fault).toBeUndefined();
  });

  it.each([
    ['PORT', 'http'],
    ['HOST', 'not a host'],
    ['SIM_LATENCY_MS', '-5'],
    ['SIM_LATENCY_PER_TOKEN_MS', 'fast'],
    ['SIM_FAULT', '503'],
    ['SIM_FAULT_RATE', '1.5'],
    ['SIM_RETRY_AFTER_SECONDS', 'soon'],
    ['SIM_HANG_MS', '2.5'],
  ])('rejects a bad %s with one line naming it', (variable, value) => {
    expect(() => loadSimulatorConfig({ [variable]: value })).toThrow(new RegExp(`^config: ${variable} [^\\n]+$`));
  });

  it('reports every bad variable, one line each', () => {
    expect(() => loadSimulatorConfig({ SIM_FAULT: 'boom', SIM_FAULT_RATE: 'x' })).toThrow(/^config: SIM_FAULT .+\nconfig: SIM_FAULT_RATE .+$/);
  });
});
