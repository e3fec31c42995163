import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Pool } from 'pg';
import { type LlmSimulatorProcess, startLlmSimulator } from './llm-simulator';
import { type NatsTestServer, startNatsServer } from './nats-server';
import { type ServiceProcess, startService } from './service-process';
import { createTestDatabase, type TestDatabase } from './test-database';

export const STACK_ADMIN_KEY = 'stack-admin-key-for-tests-0123456789';

export interface AtelierStackOptions {
  orchestrators?: number;
  researchAgents?: number;
  writerAgents?: number;
  /** Environment of every service (e.g. STEP_ACK_WAIT_MS, which they must agree on). */
  env?: Record<string, string>;
  orchestratorEnv?: Record<string, string>;
  agentEnv?: Record<string, string>;
  simulatorEnv?: Record<string, string>;
  /** Postgres server to create the database on (default: TEST_DATABASE_URL / the local one). */
  postgresServer?: string;
  /** Services connect as a login of the restricted application role (`atelier_app`), as in production; `sql` stays the owner. */
  servicesAsAppRole?: boolean;
}

export type AgentApp = 'research-agent' | 'writer-agent';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- API bodies are asserted field by field in tests
type Json = any;

/**
 * The whole platform for an end-to-end test: a fresh database, a private nats-server,
 * the simulator, and the built services as OS processes (as many replicas as asked),
 * plus the calls tests make against it. `stop()` closes everything it opened.
 */
export class AtelierStack {
  readonly orchestrators: ServiceProcess[] = [];
  readonly agents: ServiceProcess[] = [];
  private natsClient?: Promise<{ nc: NatsConnection; jsm: JetStreamManager }>;

  private constructor(
    readonly db: TestDatabase,
    readonly sql: Pool,
    readonly nats: NatsTestServer,
    readonly simulator: LlmSimulatorProcess,
    private readonly options: AtelierStackOptions,
    /** What the services connect with: the owner's URL, or an application-role login's. */
    private readonly servicesDatabaseUrl: string,
  ) {}

  static async start(options: AtelierStackOptions = {}): Promise<AtelierStack> {
    const [db, nats, simulator] = await Promise.all([
      createTestDatabase('atelier_test', options.postgresServer),
      startNatsServer(),
      startLlmSimulator(options.simulatorEnv),
    ]);
    // A pool, not one client: a test that restarts Postgres must not lose its own connection for good.
    const sql = new Pool({ connectionString: db.url, max: 2 });
    sql.on('error', () => undefined);
    const servicesDatabaseUrl = options.servicesAsAppRole
      ? await db.createAppLogin().catch(async (error: unknown) => {
          await Promise.all([sql.end(), simulator.stop(), nats.stop(), db.drop()]);
          throw error;
        })
      : db.url;
    const stack = new AtelierStack(db, sql, nats, simulator, options, servicesDatabaseUrl);
    try {
      for (let n = 0; n < (options.orchestrators ?? 1); n++) await stack.startOrchestrator();
      const agents: AgentApp[] = [
        ...Array<AgentApp>(options.researchAgents ?? 1).fill('research-agent'),
        ...Array<AgentApp>(options.writerAgents ?? 1).fill('writer-agent'),
      ];
      await Promise.all(agents.map((app) => stack.startAgent(app)));
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  get api(): string {
    const running = this.orchestrators.find((service) => service.running) ?? this.orchestrators[0];
    if (!running) throw new Error('no orchestrator started');
    return running.url;
  }

  private get commonEnv(): Record<string, string> {
    return { DATABASE_URL: this.servicesDatabaseUrl, NATS_URL: this.nats.url, SHUTDOWN_GRACE_MS: '2000', DATABASE_POOL_MAX: '4', ...this.options.env };
  }

  async startOrchestrator(extraEnv: Record<string, string> = {}): Promise<ServiceProcess> {
    const service = await startService('orchestrator', { ...this.commonEnv, ATELIER_BOOTSTRAP_API_KEY: STACK_ADMIN_KEY, ...this.options.orchestratorEnv, ...extraEnv });
    this.orchestrators.push(service);
    return service;
  }

  async startAgent(app: AgentApp, extraEnv: Record<string, string> = {}): Promise<ServiceProcess> {
    const service = await startService(app, { ...this.commonEnv, LLM_MODE: 'simulator', ANTHROPIC_BASE_URL: this.simulator.url, ...this.options.agentEnv, ...extraEnv });
    this.agents.push(service);
    return service;
  }

  call(path: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
    return fetch(`${this.api}${path}`, {
      ...init,
      headers: {
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.key ? { authorization: `Bearer ${init.key}` } : {}),
        ...(init.headers as Record<string, string>),
      },
    });
  }

  async json(path: string, init: RequestInit & { key?: string } = {}): Promise<Json> {
    return (await this.call(path, init)).json();
  }

  /** A response's JSON body, typed loosely for field-by-field assertions. */
  static async body(response: Response): Promise<Json> {
    return response.json();
  }

  async mintKey(tenant: string, scopes: string[]): Promise<string> {
    const response = await this.call('/v1/api-keys', { method: 'POST', key: STACK_ADMIN_KEY, body: JSON.stringify({ tenant, scopes }) });
    if (response.status !== 201) throw new Error(`minting a key answered ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { key: string }).key;
  }

  /** POST /v1/tasks; returns the new task's id (throws unless 202). */
  async submit(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<string> {
    const response = await this.call('/v1/tasks', { method: 'POST', key, body: JSON.stringify(body), headers });
    if (response.status !== 202) throw new Error(`submit answered ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { id: string }).id;
  }

  /** Polls the task until it leaves queued/running (or the time is up) and returns its last view. */
  async waitForTask(id: string, key: string, timeoutMs = 30_000): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await this.call(`/v1/tasks/${id}`, { key }).catch(() => undefined);
      const task: Json = response?.ok ? await response.json() : undefined;
      if ((task && !['queued', 'running'].includes(task.status)) || Date.now() > deadline) return task;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Queues a simulator fault for the next `count` model calls whose request body contains `match`. */
  async queueFault(fault: { fault: string; count?: number; match?: string }): Promise<void> {
    const response = await fetch(`${this.simulator.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fault) });
    if (!response.ok) throw new Error(`queueing a fault answered ${response.status}: ${await response.text()}`);
  }

  /** What the (deterministic) simulator answers to a system prompt and user turn, e.g. to learn a goal's plan before submitting it. */
  async simulatorReply(system: string, prompt: string): Promise<string> {
    const response = await fetch(`${this.simulator.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'test' },
      body: JSON.stringify({ model: 'claude-haiku-5-5', max_tokens: 1024, system, messages: [{ role: 'user', content: prompt }] }),
    });
    const body = (await response.json()) as { content: { text: string }[] };
    return body.content.map((block) => block.text).join('');
  }

  async simulatorStats(): Promise<{ messages: number; requests: number }> {
    return (await fetch(`${this.simulator.url}/_sim/stats`)).json() as Promise<{ messages: number; requests: number }>;
  }

  async rows<T = Json>(query: string, params: unknown[] = []): Promise<T[]> {
    return (await this.sql.query(query, params)).rows as T[];
  }

  /** The test's own NATS connection to the stack's server and its JetStream manager (one, made on first use, closed by stop()). */
  jetstream(): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
    this.natsClient ??= connect({ servers: this.nats.url, name: 'atelier-test', maxReconnectAttempts: -1 }).then(async (nc) => ({ nc, jsm: await jetstreamManager(nc) }));
    return this.natsClient;
  }

  async stop(): Promise<void> {
    await this.natsClient?.then(({ nc }) => nc.close()).catch(() => undefined);
    await Promise.all([...this.orchestrators, ...this.agents].map((service) => service.stop()));
    await this.sql.end().catch(() => undefined);
    await Promise.all([this.simulator.stop(), this.nats.stop()]);
    await this.db.drop().catch(() => undefined);
  }
}
