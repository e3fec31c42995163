import type { z } from 'zod';

/**
 * A configuration variable holding JSON, checked against `schema`; a problem becomes one
 * line naming the variable (`config: LLM_ROUTES has an invalid writer.draft.maxTokens: ...`).
 */
export function parseJsonConfig<S extends z.ZodType>(variable: string, json: string, schema: S, shape: string): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new Error(`config: ${variable} must be a JSON object of ${shape}`);
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new Error(`config: ${variable} has an invalid ${issue?.path.join('.') || 'value'}: ${issue?.message ?? 'invalid'}`);
}
