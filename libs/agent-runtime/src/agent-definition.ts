import type { AgentName } from '@atelier/contracts';
import type { StepHandlers } from './step-handler';

/** Everything an agent app contributes: its name and a handler per step kind it owns. */
export interface AgentDefinition {
  readonly agent: AgentName;
  readonly handlers: StepHandlers;
}
