import { planNext } from './workflow-planner';
import { researchReportWorkflow } from './research-report.workflow';

describe(planNext.name, () => {
  const goal = { goal: 'State of solid-state batteries' };

  it('starts with the steps that depend on nothing', () => {
    const plan = planNext(researchReportWorkflow, goal, []);
    expect(plan).toEqual({
      type: 'continue',
      newSteps: [expect.objectContaining({ key: 'investigate', kind: 'research.investigate', agent: 'research' })],
    });
  });

  it('feeds completed outputs into the steps that become ready, once', () => {
    const done = [{ key: 'investigate', status: 'completed' as const, output: { findings: 'F1' } }];
    const plan = planNext(researchReportWorkflow, goal, done);
    expect(plan.type).toBe('continue');
    const [draft] = plan.type === 'continue' ? plan.newSteps : [];
    expect(draft).toMatchObject({ key: 'draft', agent: 'writer', input: { goal: goal.goal, findings: ['F1'] } });

    const replay = planNext(researchReportWorkflow, goal, [...done, { key: 'draft', status: 'queued', output: null }]);
    expect(replay).toEqual({ type: 'continue', newSteps: [] });
  });

  it('completes with the result step document and fails on a failed step', () => {
    const steps = [
      { key: 'investigate', status: 'completed' as const, output: { findings: 'F1' } },
      { key: 'draft', status: 'completed' as const, output: { document: '# Report' } },
    ];
    expect(planNext(researchReportWorkflow, goal, steps)).toEqual({ type: 'complete', document: '# Report' });
    expect(
      planNext(researchReportWorkflow, goal, [{ key: 'investigate', status: 'failed', output: null, error: { code: 'LLM_ERROR' } }]),
    ).toEqual({ type: 'fail', failedStep: 'investigate', error: { code: 'LLM_ERROR' } });
  });
});
