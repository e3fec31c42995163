import { z } from 'zod';
import type { StepInputContext, WorkflowDefinition } from './workflow-definition';

// What this workflow reads from earlier steps' outputs (written by the agents' handlers).
const PlanOutput = z.object({ questions: z.array(z.string().min(1)).min(1) });
const InvestigationOutput = z.object({ findings: z.string().min(1) });
const DocumentOutput = z.object({ document: z.string().min(1) });
const ReviewOutput = z.object({ approved: z.boolean() });

/** Review rounds are bounded: a reviewer that never approves cannot keep a task running. */
export const MAX_REVIEW_ROUNDS = 2;

function investigations(context: StepInputContext) {
  const { completed, failed } = context.steps('investigate');
  return {
    findings: completed.map((step) => InvestigationOutput.parse(step.output).findings),
    // Questions whose investigation failed (the policy lets the draft go on with the rest).
    unanswered: failed.map((step) => String(step.input['question'] ?? step.key)),
  };
}

/**
 * Plan the research (2-5 questions), investigate every question in parallel, draft one
 * report from all findings, then review it (critique, revise) until approved or
 * MAX_REVIEW_ROUNDS ran. The draft goes ahead when at least one investigation succeeded.
 */
export const researchReportWorkflow: WorkflowDefinition = {
  name: 'research-report',
  steps: [
    {
      key: 'plan',
      kind: 'research.plan',
      after: [],
      input: ({ taskInput }) => ({ goal: taskInput.goal }),
    },
    {
      key: 'investigate',
      kind: 'research.investigate',
      after: ['plan'],
      fanOut: { items: (context) => PlanOutput.parse(context.output('plan')).questions, minSucceeded: 1 },
      input: ({ taskInput, item }) => ({ goal: taskInput.goal, question: String(item) }),
    },
    {
      key: 'draft',
      kind: 'writer.draft',
      after: ['investigate'],
      input: (context) => {
        const { findings, unanswered } = investigations(context);
        return { goal: context.taskInput.goal, findings, ...(unanswered.length > 0 ? { unanswered } : {}) };
      },
    },
    {
      key: 'review',
      kind: 'writer.review',
      after: ['draft'],
      repeat: { maxRounds: MAX_REVIEW_ROUNDS, until: (output) => ReviewOutput.parse(output).approved },
      input: (context) => ({
        goal: context.taskInput.goal,
        findings: investigations(context).findings,
        document: DocumentOutput.parse(context.previous ?? context.output('draft')).document,
        round: context.round,
        maxRounds: MAX_REVIEW_ROUNDS,
      }),
    },
  ],
  resultStep: 'review',
};
