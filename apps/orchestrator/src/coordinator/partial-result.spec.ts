import type { Step } from '@atelier/persistence';
import { partialResultOf } from './partial-result';

describe(partialResultOf.name, () => {
  let clock = 0;
  const step = (kind: string, status: string, output: unknown = null): Step =>
    ({ kind, status, output, completedAt: status === 'COMPLETED' ? new Date(++clock) : null }) as unknown as Step;

  it('keeps the findings of every completed investigation and the latest completed document', () => {
    expect(
      partialResultOf([
        step('research.plan', 'COMPLETED', { questions: ['a', 'b'] }),
        step('research.investigate', 'COMPLETED', { findings: 'F1' }),
        step('research.investigate', 'FAILED'),
        step('research.investigate', 'COMPLETED', { findings: 'F2' }),
        step('writer.draft', 'COMPLETED', { document: '# Draft' }),
        step('writer.review', 'COMPLETED', { document: '# Revised' }),
        step('writer.review', 'CANCELLED'),
      ]),
    ).toEqual({ partial: true, document: '# Revised', findings: ['F1', 'F2'] });
  });

  it('has no document before any writer step completed, and nothing at all when no step did', () => {
    expect(partialResultOf([step('research.investigate', 'COMPLETED', { findings: 'F1' }), step('writer.draft', 'FAILED')])).toEqual({ partial: true, findings: ['F1'] });
    expect(partialResultOf([step('research.investigate', 'FAILED'), step('writer.draft', 'QUEUED')])).toBeUndefined();
  });
});
