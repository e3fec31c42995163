import { briefWorkflow } from './brief.workflow';
import { partialResult } from './partial-result';
import { MAX_REVIEW_ROUNDS, researchReportWorkflow } from './research-report.workflow';
import { allWorkflows, definitionProblems } from './workflow-registry';
import type { WorkflowDefinition } from './workflow-definition';
import { type NewStep, planNext, type StepState } from './workflow-planner';

const goal = { goal: 'State of solid-state batteries' };
const questions = ['Q one?', 'Q two?', 'Q three?'];

function done(key: string, output: unknown, input: unknown = {}): StepState {
  return { key, status: 'completed', input, output };
}
function failed(key: string, input: unknown = {}, error: unknown = { code: 'LLM_UNAVAILABLE', message: 'down', retryable: true }): StepState {
  return { key, status: 'dead_lettered', input, output: null, error };
}
function newSteps(plan: ReturnType<typeof planNext>): NewStep[] {
  if (plan.type !== 'continue') throw new Error(`expected continue, got ${plan.type}`);
  return plan.newSteps;
}

describe(planNext.name, () => {
  describe('brief', () => {
    it('investigates the goal, drafts from the findings, then completes with the document', () => {
      expect(newSteps(planNext(briefWorkflow, goal, []))).toEqual([
        { key: 'investigate', kind: 'research.investigate', agent: 'research', dependsOn: [], input: { goal: goal.goal, question: goal.goal } },
      ]);
      const investigated = [done('investigate', { findings: 'F1' })];
      expect(newSteps(planNext(briefWorkflow, goal, investigated))).toEqual([
        { key: 'draft', kind: 'writer.draft', agent: 'writer', dependsOn: ['investigate'], input: { goal: goal.goal, findings: ['F1'] } },
      ]);
      expect(planNext(briefWorkflow, goal, [...investigated, done('draft', { document: '# Brief' })])).toEqual({
        type: 'complete',
        document: '# Brief',
        toleratedFailures: [],
      });
    });

    it('plans nothing twice: a replayed result finds the step already there', () => {
      const steps: StepState[] = [done('investigate', { findings: 'F1' }), { key: 'draft', status: 'queued', input: {}, output: null }];
      expect(planNext(briefWorkflow, goal, steps)).toEqual({ type: 'continue', newSteps: [] });
    });

    it('fails the task on a failed step, naming it', () => {
      const error = { code: 'LLM_ERROR', message: 'HTTP 400', retryable: false };
      expect(planNext(briefWorkflow, goal, [{ key: 'investigate', status: 'failed', input: {}, output: null, error }])).toEqual({
        type: 'fail',
        status: 'failed',
        failedStep: 'investigate',
        error,
      });
    });
  });

  describe('research-report', () => {
    const planned = [done('plan', { questions })];
    const investigated = questions.map((question, n) => done(`investigate.${n + 1}`, { findings: `F${n + 1}` }, { question }));

    it('fans out one investigation per planned question, all at once', () => {
      expect(newSteps(planNext(researchReportWorkflow, goal, [])).map((step) => step.key)).toEqual(['plan']);
      const fanOut = newSteps(planNext(researchReportWorkflow, goal, planned));
      expect(fanOut).toEqual(
        questions.map((question, n) => ({
          key: `investigate.${n + 1}`,
          kind: 'research.investigate',
          agent: 'research',
          dependsOn: ['plan'],
          input: { goal: goal.goal, question },
        })),
      );
    });

    it('joins only when every investigation has finished, then drafts from all findings', () => {
      const running: StepState = { key: 'investigate.3', status: 'running', input: { question: questions[2] }, output: null };
      expect(newSteps(planNext(researchReportWorkflow, goal, [...planned, ...investigated.slice(0, 2), running]))).toEqual([]);

      const [draft] = newSteps(planNext(researchReportWorkflow, goal, [...planned, ...investigated]));
      expect(draft).toEqual({
        key: 'draft',
        kind: 'writer.draft',
        agent: 'writer',
        dependsOn: ['investigate.1', 'investigate.2', 'investigate.3'],
        input: { goal: goal.goal, findings: ['F1', 'F2', 'F3'] },
      });
    });

    it('drafts from the investigations that succeeded when some failed, and records the completion as partial', () => {
      const someFailed = [investigated[0] as StepState, failed('investigate.2', { question: questions[1] }), failed('investigate.3', { question: questions[2] })];
      const [draft] = newSteps(planNext(researchReportWorkflow, goal, [...planned, ...someFailed]));
      expect(draft?.input).toEqual({ goal: goal.goal, findings: ['F1'], unanswered: [questions[1], questions[2]] });

      const finished = [...planned, ...someFailed, done('draft', { document: 'D' }), done('review.1', { approved: true, document: 'D' })];
      expect(planNext(researchReportWorkflow, goal, finished)).toEqual({
        type: 'complete',
        document: 'D',
        toleratedFailures: ['investigate.2', 'investigate.3'],
      });
    });

    it('fails the task when every investigation failed', () => {
      const allFailed = questions.map((question, n) => failed(`investigate.${n + 1}`, { question }));
      expect(planNext(researchReportWorkflow, goal, [...planned, ...allFailed])).toMatchObject({ type: 'fail', status: 'failed', failedStep: 'investigate.1' });
    });

    it('reviews the draft, revises and reviews again while rejected, and stops at the bound', () => {
      const drafted = [...planned, ...investigated, done('draft', { document: 'D0' })];
      const [first] = newSteps(planNext(researchReportWorkflow, goal, drafted));
      expect(first).toMatchObject({ key: 'review.1', kind: 'writer.review', dependsOn: ['draft'], input: { document: 'D0', round: 1, findings: ['F1', 'F2', 'F3'] } });

      const rejected = [...drafted, done('review.1', { approved: false, document: 'D1' })];
      const [second] = newSteps(planNext(researchReportWorkflow, goal, rejected));
      expect(second).toMatchObject({ key: 'review.2', dependsOn: ['review.1'], input: { document: 'D1', round: 2, maxRounds: MAX_REVIEW_ROUNDS } });

      const approved = [...drafted, done('review.1', { approved: true, document: 'D0' })];
      expect(planNext(researchReportWorkflow, goal, approved)).toEqual({ type: 'complete', document: 'D0', toleratedFailures: [] });

      const rounds = Array.from({ length: MAX_REVIEW_ROUNDS }, (_, n) => done(`review.${n + 1}`, { approved: false, document: `D${n + 1}` }));
      expect(planNext(researchReportWorkflow, goal, [...drafted, ...rounds])).toEqual({
        type: 'complete',
        document: `D${MAX_REVIEW_ROUNDS}`,
        toleratedFailures: [],
      });
    });

    it('ends the task as budget_exceeded when any step ran out of budget, even one the policy would tolerate', () => {
      const error = { code: 'BUDGET_EXCEEDED', message: 'tenant budget (month) of 1 USD exhausted', retryable: false };
      const steps = [...planned, investigated[0] as StepState, { key: 'investigate.2', status: 'failed' as const, input: {}, output: null, error }];
      expect(planNext(researchReportWorkflow, goal, steps)).toEqual({ type: 'fail', status: 'budget_exceeded', failedStep: 'investigate.2', error });
    });

    it('fails with INVALID_OUTPUT when an earlier output is not what the workflow reads', () => {
      expect(planNext(researchReportWorkflow, goal, [done('plan', { questions: 'not a list' })])).toMatchObject({
        type: 'fail',
        status: 'failed',
        failedStep: 'investigate',
        error: { code: 'INVALID_OUTPUT' },
      });
    });
  });

  describe('outputs the workflow cannot go on from', () => {
    /** plan → investigate × (plan's questions) → draft from whatever the investigations found. */
    const fanOutWorkflow = (minSucceeded?: number): WorkflowDefinition => ({
      name: 'research-report',
      steps: [
        { key: 'plan', kind: 'research.plan', after: [], input: ({ taskInput }) => ({ goal: taskInput.goal }) },
        {
          key: 'investigate',
          kind: 'research.investigate',
          after: ['plan'],
          fanOut: { items: (context) => (context.output('plan') as { questions: string[] }).questions, ...(minSucceeded === undefined ? {} : { minSucceeded }) },
          input: ({ item }) => ({ question: String(item) }),
        },
        { key: 'draft', kind: 'writer.draft', after: ['investigate'], input: (context) => ({ findings: context.steps('investigate').completed.map((step) => step.output) }) },
      ],
      resultStep: 'draft',
    });
    const plannedNothing = [done('plan', { questions: [] })];

    it('treats a fan-out with no items as done with nothing when its policy needs no member to succeed', () => {
      expect(planNext(fanOutWorkflow(), goal, plannedNothing)).toEqual({
        type: 'continue',
        newSteps: [{ key: 'draft', kind: 'writer.draft', agent: 'writer', dependsOn: [], input: { findings: [] } }],
      });
    });

    it('fails the task on a fan-out with no items when its policy needs members to succeed, instead of waiting forever', () => {
      expect(planNext(fanOutWorkflow(1), goal, plannedNothing)).toEqual({
        type: 'fail',
        status: 'failed',
        failedStep: 'investigate',
        error: { code: 'INVALID_OUTPUT', message: expect.stringContaining('investigate has no items, and at least 1 must succeed'), retryable: false },
      });
    });

    it('fails the task with a readable error when a repeated step says nothing its stop condition understands', () => {
      const drafted = [done('plan', { questions: ['Q?'] }), done('investigate.1', { findings: 'F1' }), done('draft', { document: 'D0' })];
      const plan = planNext(researchReportWorkflow, goal, [...drafted, done('review.1', { document: 'D1' })]);
      expect(plan).toEqual({
        type: 'fail',
        status: 'failed',
        failedStep: 'review.1',
        error: { code: 'INVALID_OUTPUT', message: expect.stringMatching(/^workflow research-report cannot use the output of review\.1: .*approved/s), retryable: false },
      });
    });
  });

  it('accepts every registered workflow definition', () => {
    for (const workflow of allWorkflows()) expect({ [workflow.name]: definitionProblems(workflow) }).toEqual({ [workflow.name]: [] });
    expect(definitionProblems({ name: 'brief', resultStep: 'x', steps: [{ key: 'a.b', kind: 'writer.draft', after: ['z'], input: () => ({}) }] })).toEqual([
      'a.b: keys may not contain dots',
      'a.b: runs after z, which is not defined before it',
      'result step x is not defined',
    ]);
  });
});

describe(partialResult.name, () => {
  it('keeps the latest writer document and every completed finding, or nothing when no step completed', () => {
    const steps = [
      { kind: 'research.investigate', status: 'completed', output: { findings: 'F1' }, completedAt: new Date(1) },
      { kind: 'research.investigate', status: 'dead_lettered', output: null, completedAt: null },
      { kind: 'writer.draft', status: 'completed', output: { document: 'draft' }, completedAt: new Date(2) },
      { kind: 'writer.review', status: 'completed', output: { document: 'revised' }, completedAt: new Date(3) },
      { kind: 'research.investigate', status: 'completed', output: { findings: 'F2' }, completedAt: new Date(0) },
    ];
    expect(partialResult(steps)).toEqual({ partial: true, document: 'revised', findings: ['F2', 'F1'] });
    expect(partialResult([{ kind: 'research.plan', status: 'completed', output: { questions: [] }, completedAt: new Date() }])).toEqual({ partial: true, findings: [] });
    expect(partialResult([{ kind: 'research.plan', status: 'failed', output: null, completedAt: null }])).toBeUndefined();
  });
});
