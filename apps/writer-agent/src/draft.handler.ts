import { StepFailure, type StepHandler } from '@atelier/agent-runtime';
import { z } from 'zod';
import { DRAFT_SYSTEM_PROMPT, draftPrompt } from './draft.prompt';
import { findingsContext } from './findings-context';

const DraftInput = z.object({ goal: z.string().min(1), findings: z.array(z.string()).min(1), unanswered: z.array(z.string()).optional() });

/** writer.draft: the findings of every investigation → the report (markdown). */
export const draft: StepHandler = async (step) => {
  const input = DraftInput.safeParse(step.input);
  if (!input.success) throw new StepFailure('HANDLER_ERROR', 'writer.draft input needs a goal and at least one findings block', false);
  const reply = await step.complete({
    system: DRAFT_SYSTEM_PROMPT,
    context: findingsContext(input.data.findings),
    prompt: draftPrompt(input.data.goal, input.data.unanswered ?? []),
  });
  const document = reply.text.trim();
  if (!document) throw new StepFailure('INVALID_OUTPUT', 'The model returned an empty draft.', true);
  return { document, model: reply.model, truncated: reply.stopReason === 'max_tokens' };
};
