import { Inject, Injectable } from '@nestjs/common';
import { AnthropicGateway, createKeepAliveFetch } from '@atelier/llm';
import { AGENT_CONFIG } from './tokens';
import type { AgentConfig } from './agent-config';

/** The process's one Anthropic gateway (SDK retries off; our policies decide). */
@Injectable()
export class LlmClient {
  readonly gateway: AnthropicGateway;

  constructor(@Inject(AGENT_CONFIG) config: AgentConfig) {
    this.gateway = new AnthropicGateway({
      // The simulator accepts any key; a placeholder keeps the SDK from refusing to start.
      apiKey: config.ANTHROPIC_API_KEY ?? 'simulator',
      baseURL: config.ANTHROPIC_BASE_URL,
      timeoutMs: config.LLM_TIMEOUT_MS,
      pricing: config.pricing,
      // One model call per step at hundreds of steps a second: the lighter HTTP client matters.
      fetch: createKeepAliveFetch({ maxSockets: config.AGENT_CONCURRENCY * 2 }),
    });
  }
}
