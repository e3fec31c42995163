import { parseModelJson, StepFailure, type StepHandler } from '@atelier/agent-runtime';
import { z } from 'zod';
import { findingsContext } from './findings-context';
import { REVIEW_SYSTEM_PROMPT, reviewPrompt, REVISE_SYSTEM_PROMPT, revisePrompt } from './review.prompt';

const ReviewInput = z.object({
  goal: z.string().min(1),
  findings: z.array(z.string()).min(1),
  document: z.string().min(1),
  round: z.number().int().min(1).optional(),
});

export const ReviewVerdict = z.object({ approved: z.boolean(), comments: z.array(z.string().max(2_000)).max(20) });

/**
 * writer.review: one review round. The reviewer critiques the document; when it does not
 * approve, the writer revises it along the comments. The workflow decides whether another
 * round follows (bounded); the latest document is the task's result.
 */
export const review: StepHandler = async (step) => {
  const input = ReviewInput.safeParse(step.input);
  if (!input.success) throw new StepFailure('HANDLER_ERROR', 'writer.review input needs a goal, findings and a document', false);
  const { goal, findings, document, round } = input.data;
  const context = findingsContext(findings);
  const critique = await step.complete({ system: REVIEW_SYSTEM_PROMPT, context, prompt: reviewPrompt(goal, document) });
  const verdict = ReviewVerdict.safeParse(parseModelJson(critique.text));
  if (!verdict.success) throw new StepFailure('INVALID_OUTPUT', 'The review is not the JSON verdict asked for.', true);
  const { approved, comments } = verdict.data;
  if (approved) return { approved, comments, document, revised: false, round: round ?? 1 };

  const revision = await step.complete({ system: REVISE_SYSTEM_PROMPT, context, prompt: revisePrompt(goal, document, comments) });
  const revised = revision.text.trim();
  if (!revised) throw new StepFailure('INVALID_OUTPUT', 'The model returned an empty revision.', true);
  return { approved, comments, document: revised, revised: true, round: round ?? 1, truncated: revision.stopReason === 'max_tokens' };
};
