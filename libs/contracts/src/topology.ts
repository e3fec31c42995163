// The JetStream topology in one place: the messaging lib provisions it, the agents and
// the orchestrator consume it, and the Helm chart's autoscalers are checked against it.

export const AGENTS = ['research', 'writer'] as const;
export type AgentName = (typeof AGENTS)[number];

export interface StreamSpec {
  /** Stream name. */
  readonly stream: string;
  readonly subjects: readonly string[];
  readonly retention: 'workqueue' | 'limits';
  /** Oldest message kept, for `limits` streams. */
  readonly maxAgeMs?: number;
}

export interface ConsumerSpec {
  readonly stream: string;
  /** Durable pull consumer name. */
  readonly durable: string;
  readonly filterSubject: string;
  readonly ackWaitMs: number;
  /** JetStream's delivery bound; -1 for none (the consumer then bounds attempts itself). */
  readonly maxDeliver: number;
  /** Redelivery delays by delivery number; the last one repeats. */
  readonly backoffMs: readonly number[];
}

export const SUBJECTS = {
  agentSteps: (agent: AgentName) => `agent.${agent}.steps`,
  stepResults: 'orchestrator.step-results',
  taskEvents: (taskId: string) => `task.${taskId}.events`,
  /** Tells agents to stop a task's in-flight steps (cancelled, timed out, failed). */
  taskControl: (taskId: string) => `task.${taskId}.control`,
} as const;

export const STREAMS = {
  research: { stream: 'AGENT_RESEARCH', subjects: ['agent.research.steps'], retention: 'workqueue' },
  writer: { stream: 'AGENT_WRITER', subjects: ['agent.writer.steps'], retention: 'workqueue' },
  stepResults: { stream: 'STEP_RESULTS', subjects: ['orchestrator.step-results'], retention: 'workqueue' },
  taskEvents: { stream: 'TASK_EVENTS', subjects: ['task.*.events'], retention: 'limits', maxAgeMs: 60 * 60 * 1000 },
  taskControl: { stream: 'TASK_CONTROL', subjects: ['task.*.control'], retention: 'limits', maxAgeMs: 60 * 60 * 1000 },
} as const satisfies Record<string, StreamSpec>;

export const DEFAULT_STEP_ACK_WAIT_MS = 30_000;

// No delivery bound at the broker: JetStream simply stops delivering a message after
// max_deliver, with no record of it, and the step would sit unfinished. Attempts are
// counted on the step row instead (agents dead-letter the last one), and deliveries that
// never reached the step (database unreachable) do not use one up.
const stepConsumerDefaults = { ackWaitMs: DEFAULT_STEP_ACK_WAIT_MS, maxDeliver: -1, backoffMs: [] } as const;

export const CONSUMERS = {
  research: { stream: STREAMS.research.stream, durable: 'research-workers', filterSubject: 'agent.research.steps', ...stepConsumerDefaults },
  writer: { stream: STREAMS.writer.stream, durable: 'writer-workers', filterSubject: 'agent.writer.steps', ...stepConsumerDefaults },
  stepResults: {
    stream: STREAMS.stepResults.stream,
    durable: 'orchestrator',
    filterSubject: 'orchestrator.step-results',
    // Handling a result takes milliseconds; a replica that died holding one hands it on soon.
    ackWaitMs: 10_000,
    // A result is never dropped: the orchestrator naks with its own capped delays while
    // Postgres is unreachable, however long that lasts.
    maxDeliver: -1,
    backoffMs: [],
  },
} as const satisfies Record<string, ConsumerSpec>;

export function agentStream(agent: AgentName): StreamSpec {
  return STREAMS[agent];
}

/** An agent's work queue consumer; `ackWaitMs` comes from STEP_ACK_WAIT_MS, which every service must agree on. */
export function agentConsumer(agent: AgentName, ackWaitMs: number = DEFAULT_STEP_ACK_WAIT_MS): ConsumerSpec {
  return { ...CONSUMERS[agent], ackWaitMs };
}

/** Every durable consumer of the platform, as the orchestrator provisions them. */
export function allConsumers(stepAckWaitMs: number = DEFAULT_STEP_ACK_WAIT_MS): ConsumerSpec[] {
  return [...AGENTS.map((agent) => agentConsumer(agent, stepAckWaitMs)), CONSUMERS.stepResults];
}

/** Header names carried on every message besides Nats-Msg-Id. */
export const HEADERS = {
  traceparent: 'traceparent',
  tenant: 'atelier-tenant',
} as const;
