import { parseModelJson, StepFailure, type StepHandler } from '@atelier/agent-runtime';
import { z } from 'zod';
import { MAX_QUESTIONS, MIN_QUESTIONS, PLAN_SYSTEM_PROMPT, planPrompt } from './plan.prompt';

const PlanInput = z.object({ goal: z.string().min(1) });

/** The plan the workflow fans out from: validated here, so the orchestrator only ever sees a usable one. */
export const PlanOutput = z
  .object({
    questions: z
      .array(z.string().trim().min(5, 'must be a real question').max(500))
      .min(MIN_QUESTIONS)
      .max(MAX_QUESTIONS)
      .refine((questions) => new Set(questions.map((question) => question.toLowerCase())).size === questions.length, 'must not repeat a question'),
  })
  .strict();

/** research.plan: the goal → 2-5 research questions (structured output, checked against PlanOutput). */
export const plan: StepHandler = async (step) => {
  const input = PlanInput.safeParse(step.input);
  if (!input.success) throw new StepFailure('HANDLER_ERROR', 'research.plan input needs a goal', false);
  const reply = await step.complete({ system: PLAN_SYSTEM_PROMPT, prompt: planPrompt(input.data.goal) });
  const parsed = PlanOutput.safeParse(parseModelJson(reply.text));
  if (!parsed.success) {
    // Retryable: another sample of the model may well follow the format; attempts are bounded.
    const problem = parsed.error.issues[0];
    throw new StepFailure('INVALID_OUTPUT', `The plan is not valid: ${problem ? `${problem.path.join('.') || 'reply'} ${problem.message}` : 'not JSON'}.`, true);
  }
  return { questions: parsed.data.questions, model: reply.model };
};

