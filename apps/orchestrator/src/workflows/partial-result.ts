/** What a task that ended other than `completed` keeps of its work (SHARED-CONTRACTS "Partial results"). */
export interface PartialResult {
  partial: true;
  document?: string;
  findings: string[];
}

export interface CompletedWork {
  readonly kind: string;
  readonly status: string;
  readonly output: unknown;
  readonly completedAt: Date | string | null;
}

/**
 * `document`: the latest completed writer document; `findings`: the findings of every
 * completed investigation. Undefined when no step completed: there is nothing to keep.
 */
export function partialResult(steps: readonly CompletedWork[]): PartialResult | undefined {
  const completed = steps
    .filter((step) => step.status === 'completed')
    .sort((a, b) => new Date(a.completedAt ?? 0).getTime() - new Date(b.completedAt ?? 0).getTime());
  if (completed.length === 0) return undefined;
  const text = (step: CompletedWork, field: string) => {
    const value = (step.output as Record<string, unknown> | null)?.[field];
    return typeof value === 'string' && value.length > 0 ? value : undefined;
  };
  const document = completed
    .filter((step) => step.kind.startsWith('writer.'))
    .map((step) => text(step, 'document'))
    .filter((value): value is string => value !== undefined)
    .at(-1);
  const findings = completed
    .filter((step) => step.kind === 'research.investigate')
    .map((step) => text(step, 'findings'))
    .filter((value): value is string => value !== undefined);
  return { partial: true, ...(document !== undefined ? { document } : {}), findings };
}
