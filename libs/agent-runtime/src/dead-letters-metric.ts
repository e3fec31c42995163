import { Counter, type Registry } from 'prom-client';

const NAME = 'atelier_dead_letters_total';

/** `atelier_dead_letters_total{agent}`: steps that used up their attempts (SHARED-CONTRACTS metric names). */
export function deadLettersCounter(registry: Registry): Counter<'agent'> {
  const existing = registry.getSingleMetric(NAME);
  if (existing) return existing as Counter<'agent'>;
  return new Counter({ name: NAME, help: 'Steps dead-lettered after their last failed attempt', labelNames: ['agent'], registers: [registry] });
}
