import type { WorkflowName } from '@atelier/contracts';
import { briefWorkflow } from './brief.workflow';
import { researchReportWorkflow } from './research-report.workflow';
import type { WorkflowDefinition } from './workflow-definition';

const WORKFLOWS: Record<WorkflowName, WorkflowDefinition> = {
  'research-report': researchReportWorkflow,
  brief: briefWorkflow,
};

export function workflowNamed(name: string): WorkflowDefinition {
  const workflow = WORKFLOWS[name as WorkflowName];
  if (!workflow) throw new Error(`unknown workflow "${name}"`);
  return workflow;
}

/** The definition rules the planner relies on; checked by the registry's test for every workflow. */
export function definitionProblems(workflow: WorkflowDefinition): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const step of workflow.steps) {
    if (step.key.includes('.')) problems.push(`${step.key}: keys may not contain dots`);
    if (seen.has(step.key)) problems.push(`${step.key}: duplicate key`);
    for (const node of step.after) if (!seen.has(node)) problems.push(`${step.key}: runs after ${node}, which is not defined before it`);
    if (step.fanOut && step.repeat) problems.push(`${step.key}: a node fans out or repeats, not both`);
    if (step.repeat && step.repeat.maxRounds < 1) problems.push(`${step.key}: maxRounds must be at least 1`);
    seen.add(step.key);
  }
  if (!seen.has(workflow.resultStep)) problems.push(`result step ${workflow.resultStep} is not defined`);
  return problems;
}

export function allWorkflows(): WorkflowDefinition[] {
  return Object.values(WORKFLOWS);
}
