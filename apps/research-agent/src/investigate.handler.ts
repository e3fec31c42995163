import { StepFailure, type StepHandler } from '@atelier/agent-runtime';
import { z } from 'zod';
import { INVESTIGATE_SYSTEM_PROMPT, investigatePrompt } from './investigate.prompt';

const InvestigateInput = z.object({ goal: z.string().min(1), question: z.string().min(1) });

/** research.investigate: one question → structured findings for the writer. */
export const investigate: StepHandler = async (step) => {
  const input = InvestigateInput.safeParse(step.input);
  if (!input.success) throw new StepFailure('HANDLER_ERROR', 'research.investigate input needs a goal and a question', false);
  const reply = await step.complete({
    system: INVESTIGATE_SYSTEM_PROMPT,
    prompt: investigatePrompt(input.data.goal, input.data.question),
  });
  const findings = reply.text.trim();
  if (!findings) throw new StepFailure('INVALID_OUTPUT', 'The model returned no findings.', true);
  return { question: input.data.question, findings, model: reply.model };
};
