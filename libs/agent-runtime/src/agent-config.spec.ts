import { ConfigError } from '@atelier/contracts';
import { loadAgentConfig } from './agent-config';

describe(loadAgentConfig.name, () => {
  const base = { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/atelier' };
  const problems = (env: Record<string, string>) => {
    try {
      loadAgentConfig({ ...base, ...env });
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  };

  it('defaults the cost levers and holds reservations a minute past the call timeout', () => {
    const config = loadAgentConfig({ ...base, LLM_TIMEOUT_MS: '30000' });
    expect(config).toMatchObject({ LLM_COUNT_TOKENS: 'auto', LLM_PROMPT_CACHE: '5m', LLM_RESPONSE_CACHE_TTL_SECONDS: 3600, SPEND_RESERVATION_TTL_MS: 90_000 });
    expect(config.routes('writer.draft')).toEqual({ model: 'claude-sonnet-5-5', maxTokens: 4096 });
  });

  it('applies routes and price overrides, validated at boot', () => {
    const config = loadAgentConfig({
      ...base,
      LLM_PRICING_OVERRIDES: JSON.stringify({ 'claude-x-1': { inputPerMTok: '1', outputPerMTok: '2', cacheWrite5mPerMTok: '1.25', cacheWrite1hPerMTok: '2', cacheReadPerMTok: '0.1' } }),
      LLM_ROUTES: JSON.stringify({ 'writer.draft': { model: 'claude-x-1', maxTokens: 512 } }),
    });
    expect(config.routes('writer.draft')).toEqual({ model: 'claude-x-1', maxTokens: 512 });
  });

  it('names each bad variable on one line', () => {
    expect(problems({ LLM_PROMPT_CACHE: '2h', LLM_COUNT_TOKENS: 'maybe', LLM_RESPONSE_CACHE_TTL_SECONDS: '-1' })).toEqual([
      expect.stringMatching(/^config: LLM_COUNT_TOKENS /),
      expect.stringMatching(/^config: LLM_PROMPT_CACHE /),
      expect.stringMatching(/^config: LLM_RESPONSE_CACHE_TTL_SECONDS /),
    ]);
    expect(problems({ LLM_TIMEOUT_MS: '60000', SPEND_RESERVATION_TTL_MS: '30000' })).toEqual([
      'config: SPEND_RESERVATION_TTL_MS must exceed LLM_TIMEOUT_MS, or live calls would be billed as lost',
    ]);
    expect(problems({ LLM_ROUTES: JSON.stringify({ 'research.plan': { model: 'gpt-5' } }) })).toEqual([expect.stringMatching(/^config: LLM_ROUTES routes research.plan to gpt-5, which has no price/)]);
    expect(problems({ LLM_PRICING_OVERRIDES: '{"claude-x": 3}' })).toEqual([expect.stringMatching(/^config: LLM_PRICING_OVERRIDES has an invalid claude-x/)]);
  });
});
