import { runNestService, createLogger } from '@atelier/observability';
import { loadAgentConfig } from './agent-config';
import type { AgentDefinition } from './agent-definition';
import { AgentRuntimeModule } from './agent-runtime.module';

/** An agent app's whole main.ts: `void runAgent({ agent, handlers })`. */
export function runAgent(definition: AgentDefinition) {
  return runNestService({
    service: `${definition.agent}-agent`,
    loadConfig: () => {
      const config = loadAgentConfig();
      if (config.LLM_MODE === 'simulator') {
        createLogger({ service: `${definition.agent}-agent` }).warn(
          { llmMode: 'simulator', baseURL: config.ANTHROPIC_BASE_URL },
          'LLM_MODE=simulator: model replies are SIMULATED by apps/llm-simulator, not Claude. Set ANTHROPIC_API_KEY for real replies.',
        );
      }
      return config;
    },
    module: (config) => AgentRuntimeModule.forRoot(definition, config),
    port: (config) => config.PORT,
    host: (config) => config.LISTEN_HOST,
    logLevel: (config) => config.LOG_LEVEL,
    shutdownTimeoutMs: (config) => config.SHUTDOWN_GRACE_MS + 15_000,
  });
}
