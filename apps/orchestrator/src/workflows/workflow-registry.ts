import type { WorkflowName } from '@atelier/contracts';
import { researchReportWorkflow } from './research-report.workflow';
import type { WorkflowDefinition } from './workflow-definition';

const WORKFLOWS: Record<WorkflowName, WorkflowDefinition> = {
  'research-report': researchReportWorkflow,
};

export function workflowNamed(name: string): WorkflowDefinition {
  const workflow = WORKFLOWS[name as WorkflowName];
  if (!workflow) throw new Error(`unknown workflow "${name}"`);
  return workflow;
}
