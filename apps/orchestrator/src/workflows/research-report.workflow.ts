import type { WorkflowDefinition } from './workflow-definition';

/** Investigate the goal, then write a report from the findings. */
export const researchReportWorkflow: WorkflowDefinition = {
  name: 'research-report',
  steps: [
    {
      key: 'investigate',
      kind: 'research.investigate',
      dependsOn: [],
      input: ({ taskInput }) => ({ goal: taskInput.goal, question: taskInput.goal }),
    },
    {
      key: 'draft',
      kind: 'writer.draft',
      dependsOn: ['investigate'],
      input: ({ taskInput, outputs }) => ({
        goal: taskInput.goal,
        findings: [(outputs['investigate'] as { findings: string }).findings],
      }),
    },
  ],
  resultStep: 'draft',
};
