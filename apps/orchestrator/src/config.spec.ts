import { ConfigError } from '@atelier/contracts';
import { loadOrchestratorConfig } from './config';

describe(loadOrchestratorConfig.name, () => {
  const base = { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/atelier' };

  it('leaves spend caps off unless configured, and reads them when they are', () => {
    expect(loadOrchestratorConfig(base)).toMatchObject({ ATELIER_GLOBAL_BUDGET_PERIOD: 'month', ATELIER_DEFAULT_TENANT_BUDGET_PERIOD: 'day', SPEND_SWEEP_INTERVAL_MS: 5_000 });
    expect(loadOrchestratorConfig(base).ATELIER_GLOBAL_BUDGET_USD).toBeUndefined();
    const config = loadOrchestratorConfig({ ...base, ATELIER_GLOBAL_BUDGET_USD: '500', ATELIER_DEFAULT_TENANT_BUDGET_USD: '25.50', ATELIER_DEFAULT_TENANT_BUDGET_PERIOD: 'month' });
    expect(config).toMatchObject({ ATELIER_GLOBAL_BUDGET_USD: '500', ATELIER_DEFAULT_TENANT_BUDGET_USD: '25.50', ATELIER_DEFAULT_TENANT_BUDGET_PERIOD: 'month' });
  });

  it('refuses bad amounts and an unsigned webhook, naming the variable and never its secret', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadOrchestratorConfig({ ...base, ...env });
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    };
    expect(problems({ ATELIER_GLOBAL_BUDGET_USD: '-5', ATELIER_DEFAULT_TENANT_BUDGET_PERIOD: 'week' })).toEqual([
      expect.stringMatching(/^config: ATELIER_GLOBAL_BUDGET_USD must be a decimal amount/),
      expect.stringMatching(/^config: ATELIER_DEFAULT_TENANT_BUDGET_PERIOD /),
    ]);
    expect(problems({ ATELIER_ALERT_WEBHOOK_URL: 'https://hooks.example.com/atelier' })).toEqual([
      'config: ATELIER_ALERT_WEBHOOK_SECRET is required with ATELIER_ALERT_WEBHOOK_URL (alerts are signed)',
    ]);
    const short = problems({ ATELIER_ALERT_WEBHOOK_URL: 'https://hooks.example.com/atelier', ATELIER_ALERT_WEBHOOK_SECRET: 'tiny-s3cret' });
    expect(short).toEqual(['config: ATELIER_ALERT_WEBHOOK_SECRET must be at least 16 characters']);
    expect(short.join('\n')).not.toContain('tiny-s3cret');
  });
});
