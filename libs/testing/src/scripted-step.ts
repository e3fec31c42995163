import type { AgentName, StepKind } from '@atelier/contracts';

const silent = () => undefined;

/**
 * A step context (the `StepContext` handlers receive) whose model answers the given replies
 * in order, for handler unit tests: what a handler does with a reply (parse, validate,
 * fail) is the subject there, and the model cannot run in a unit test. End-to-end tests
 * use the simulator through the real SDK. `requests` records every model call made.
 */
export function scriptedStep(kind: StepKind, input: Record<string, unknown>, replies: string[]) {
  const requests: { system: string; context?: string; prompt: string }[] = [];
  const pending = [...replies];
  return {
    agent: kind.split('.')[0] as AgentName,
    kind,
    taskId: '00000000-0000-4000-8000-000000000001',
    stepId: '00000000-0000-4000-8000-000000000002',
    tenantId: '00000000-0000-4000-8000-000000000003',
    attempt: 1,
    input,
    signal: new AbortController().signal,
    // A logger that drops everything (typed loosely: this library may not import agent-runtime's types).
    logger: { trace: silent, debug: silent, info: silent, warn: silent, error: silent, fatal: silent } as never,
    requests,
    complete: async (request: { system: string; context?: string; prompt: string }) => {
      requests.push({ ...request });
      return { text: pending.shift() ?? '', model: 'claude-haiku-5-5', stopReason: 'end_turn' as string | null };
    },
  };
}
