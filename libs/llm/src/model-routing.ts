import { STEP_KINDS, type StepKind } from '@atelier/contracts';
import { z } from 'zod';
import { parseJsonConfig } from './json-config';
import type { Pricing } from './pricing';

export interface ModelRoute {
  model: string;
  maxTokens: number;
}

/**
 * A cheap model where reasoning is light (planning, review), a stronger one for research
 * and writing; max_tokens per kind caps both the answer and the worst case reserved for it.
 */
export const DEFAULT_ROUTES: Readonly<Record<StepKind, ModelRoute>> = {
  'research.plan': { model: 'claude-haiku-5-5', maxTokens: 1024 },
  'research.investigate': { model: 'claude-sonnet-5-5', maxTokens: 2048 },
  'writer.draft': { model: 'claude-sonnet-5-5', maxTokens: 4096 },
  'writer.review': { model: 'claude-haiku-5-5', maxTokens: 1024 },
};

/** The largest max_tokens any current model accepts on the Messages API. */
const MAX_OUTPUT_TOKENS = 128_000;

const RouteOverride = z.object({ model: z.string().min(1).optional(), maxTokens: z.number().int().min(1).max(MAX_OUTPUT_TOKENS).optional() }).strict();
const RouteOverrides = z.partialRecord(z.enum(STEP_KINDS), RouteOverride).refine((value) => !Array.isArray(value), 'must be an object');

export type ModelRoutes = (kind: StepKind) => ModelRoute;

/**
 * The routes with LLM_ROUTES on top (JSON: step kind → {model?, maxTokens?}). Every
 * routed model must be priced: an unpriced default would only fail at the first call.
 */
export function loadModelRoutes(pricing: Pricing, overridesJson?: string): ModelRoutes {
  const overrides = overridesJson ? parseJsonConfig('LLM_ROUTES', overridesJson, RouteOverrides, 'step kind → {model, maxTokens}') : {};
  const routes = Object.fromEntries(STEP_KINDS.map((kind) => [kind, { ...DEFAULT_ROUTES[kind], ...overrides[kind] }])) as Record<StepKind, ModelRoute>;
  for (const [kind, route] of Object.entries(routes)) {
    if (!pricing.models().includes(route.model)) throw new Error(`config: LLM_ROUTES routes ${kind} to ${route.model}, which has no price (add it to LLM_PRICING_OVERRIDES)`);
  }
  return (kind) => routes[kind];
}
