import type { StepKind } from '@atelier/contracts';

export interface ModelRoute {
  model: string;
  maxTokens: number;
}

/** A cheap model where reasoning is light (planning, review), a stronger one for research and writing. */
export const DEFAULT_ROUTES: Readonly<Record<StepKind, ModelRoute>> = {
  'research.plan': { model: 'claude-haiku-5-5', maxTokens: 1024 },
  'research.investigate': { model: 'claude-sonnet-5-5', maxTokens: 2048 },
  'writer.draft': { model: 'claude-sonnet-5-5', maxTokens: 4096 },
  'writer.review': { model: 'claude-haiku-5-5', maxTokens: 1024 },
};

export function resolveModelRoute(kind: StepKind, overrides: Partial<Record<StepKind, Partial<ModelRoute>>> = {}): ModelRoute {
  return { ...DEFAULT_ROUTES[kind], ...overrides[kind] };
}
