// The research planner's prompt. ("research planner" is also how the simulator knows
// which kind of reply to shape.)

export const MIN_QUESTIONS = 2;
export const MAX_QUESTIONS = 5;

export const PLAN_SYSTEM_PROMPT = `You are a research planner working for a report writer.
Break the goal you are given into ${MIN_QUESTIONS} to ${MAX_QUESTIONS} research questions that together answer it.
Each question must be specific, answerable on its own and different from the others.
Answer with JSON only, no prose and no code fence, exactly in this shape:
{"questions": ["first question?", "second question?"]}`;

export function planPrompt(goal: string): string {
  return `Goal: ${goal}`;
}
