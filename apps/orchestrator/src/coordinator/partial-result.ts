import type { Step } from '@atelier/persistence';

/** What a task that did not complete keeps of its work (SHARED-CONTRACTS "Partial results"). */
export interface PartialResult {
  partial: true;
  document?: string;
  findings: string[];
}

/**
 * The latest completed writer document, if any, and the findings of every completed
 * investigation; undefined when no step completed (there is nothing to keep).
 */
export function partialResultOf(steps: readonly Step[]): PartialResult | undefined {
  const completed = steps
    .filter((step) => step.status === 'COMPLETED')
    .sort((a, b) => (a.completedAt?.getTime() ?? 0) - (b.completedAt?.getTime() ?? 0));
  if (completed.length === 0) return undefined;
  const outputOf = (step: Step) => (step.output ?? {}) as { document?: unknown; findings?: unknown };
  const documents = completed.filter((step) => step.kind.startsWith('writer.') && typeof outputOf(step).document === 'string');
  const findings = completed.filter((step) => step.kind === 'research.investigate' && typeof outputOf(step).findings === 'string');
  const document = documents.at(-1);
  return {
    partial: true,
    ...(document ? { document: outputOf(document).document as string } : {}),
    findings: findings.map((step) => outputOf(step).findings as string),
  };
}
