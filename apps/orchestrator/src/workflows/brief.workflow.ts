import { z } from 'zod';
import type { WorkflowDefinition } from './workflow-definition';

const InvestigationOutput = z.object({ findings: z.string().min(1) });

/** The smallest useful workflow: investigate the goal itself, then write it up. */
export const briefWorkflow: WorkflowDefinition = {
  name: 'brief',
  steps: [
    {
      key: 'investigate',
      kind: 'research.investigate',
      after: [],
      input: ({ taskInput }) => ({ goal: taskInput.goal, question: taskInput.goal }),
    },
    {
      key: 'draft',
      kind: 'writer.draft',
      after: ['investigate'],
      input: (context) => ({ goal: context.taskInput.goal, findings: [InvestigationOutput.parse(context.output('investigate')).findings] }),
    },
  ],
  resultStep: 'draft',
};
