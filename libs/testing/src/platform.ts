import { type LlmSimulatorProcess, startLlmSimulator } from './llm-simulator';
import { type NatsTestServer, startNatsServer } from './nats-server';
import { type ServiceProcess, startService } from './service-process';

export interface PlatformOptions {
  /** The database every service uses (created and migrated by the caller). */
  databaseUrl: string;
  /** Becomes the first admin key (ATELIER_BOOTSTRAP_API_KEY). */
  bootstrapKey: string;
  /** Extra environment of the orchestrator. */
  orchestratorEnv?: Record<string, string>;
}

export interface Platform {
  /** The orchestrator's base URL. */
  readonly api: string;
  /** orchestrator, research-agent, writer-agent. */
  readonly services: readonly ServiceProcess[];
  readonly nats: NatsTestServer;
  readonly simulator: LlmSimulatorProcess;
  /** A new API key for `tenant` (created on first use), minted with the bootstrap key. */
  mintKey(tenant: string, scopes: string[]): Promise<string>;
  /** Stops the services, then the simulator and NATS (not the database). */
  stop(): Promise<void>;
}

/**
 * The whole platform as production runs it: the built orchestrator and both agents as OS
 * processes, a private JetStream server, and the LLM simulator behind the real SDK.
 */
export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const [nats, simulator] = await Promise.all([startNatsServer(), startLlmSimulator()]);
  const services: ServiceProcess[] = [];
  const stop = async () => {
    await Promise.all(services.map((service) => service.stop()));
    await Promise.all([simulator.stop(), nats.stop()]);
  };
  try {
    const common = { DATABASE_URL: options.databaseUrl, NATS_URL: nats.url, SHUTDOWN_GRACE_MS: '2000' };
    services.push(await startService('orchestrator', { ...common, ATELIER_BOOTSTRAP_API_KEY: options.bootstrapKey, ...options.orchestratorEnv }));
    const agentEnv = { ...common, LLM_MODE: 'simulator', ANTHROPIC_BASE_URL: simulator.url };
    services.push(...(await Promise.all([startService('research-agent', agentEnv), startService('writer-agent', agentEnv)])));
  } catch (error) {
    await stop();
    throw error;
  }
  const api = (services[0] as ServiceProcess).url;
  return {
    api,
    services,
    nats,
    simulator,
    stop,
    async mintKey(tenant, scopes) {
      const response = await fetch(`${api}/v1/api-keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.bootstrapKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tenant, scopes }),
      });
      if (response.status !== 201) throw new Error(`minting a key for ${tenant} answered ${response.status}: ${await response.text()}`);
      return ((await response.json()) as { key: string }).key;
    },
  };
}
