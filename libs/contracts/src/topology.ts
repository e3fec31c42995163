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
  readonly maxDeliver: number;
  /** Redelivery delays by delivery number; the last one repeats. */
  readonly backoffMs: readonly number[];
}

export const SUBJECTS = {
  agentSteps: (agent: AgentName) => `agent.${agent}.steps`,
  stepResults: 'orchestrator.step-results',
  taskEvents: (taskId: string) => `task.${taskId}.events`,
} as const;

export const STREAMS = {
  research: { stream: 'AGENT_RESEARCH', subjects: ['agent.research.steps'], retention: 'workqueue' },
  writer: { stream: 'AGENT_WRITER', subjects: ['agent.writer.steps'], retention: 'workqueue' },
  stepResults: { stream: 'STEP_RESULTS', subjects: ['orchestrator.step-results'], retention: 'workqueue' },
  taskEvents: { stream: 'TASK_EVENTS', subjects: ['task.*.events'], retention: 'limits', maxAgeMs: 60 * 60 * 1000 },
} as const satisfies Record<string, StreamSpec>;

const stepConsumerDefaults = { ackWaitMs: 30_000, maxDeliver: 5, backoffMs: [1_000, 5_000, 15_000, 30_000] } as const;

export const CONSUMERS = {
  research: { stream: STREAMS.research.stream, durable: 'research-workers', filterSubject: 'agent.research.steps', ...stepConsumerDefaults },
  writer: { stream: STREAMS.writer.stream, durable: 'writer-workers', filterSubject: 'agent.writer.steps', ...stepConsumerDefaults },
  stepResults: {
    stream: STREAMS.stepResults.stream,
    durable: 'orchestrator',
    filterSubject: 'orchestrator.step-results',
    ackWaitMs: 30_000,
    maxDeliver: 10,
    backoffMs: [500, 2_000, 5_000, 10_000],
  },
} as const satisfies Record<string, ConsumerSpec>;

export function agentStream(agent: AgentName): StreamSpec {
  return STREAMS[agent];
}

export function agentConsumer(agent: AgentName): ConsumerSpec {
  return CONSUMERS[agent];
}

/** Header names carried on every message besides Nats-Msg-Id. */
export const HEADERS = {
  traceparent: 'traceparent',
  tenant: 'atelier-tenant',
} as const;
