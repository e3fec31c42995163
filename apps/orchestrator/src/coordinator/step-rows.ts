import type { StepToInsert } from './task-store';

/** New steps as one jsonb parameter, for `stepRowsFrom` (the submit and advance statements insert them alike). */
export function stepRowsJson(steps: readonly StepToInsert[]): string {
  return JSON.stringify(steps.map((step) => ({ id: step.id, key: step.key, kind: step.kind, agent: step.agent, depends_on: step.dependsOn, input: step.input })));
}

/** The rows of a `stepRowsJson` parameter, aliased `s`. */
export function stepRowsFrom(param: string): string {
  return `jsonb_to_recordset(${param}::jsonb) AS s(id uuid, key text, kind text, agent text, depends_on text[], input jsonb)`;
}
