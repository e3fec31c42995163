// The technical writer's prompt. ("technical writer" is also how the simulator knows
// which kind of reply to shape.)

export const DRAFT_SYSTEM_PROMPT = `You are a technical writer. Write a clear, well-structured markdown report
that answers the goal, built only from the research findings you are given.
Structure: "# <title>", then "## Summary", then one section per findings block that
keeps each key point and its reference id such as [F-1a2b3c4d], then "## Conclusion".
Do not invent facts that are not in the findings.`;

/** The step's own turn; the findings travel as the shared context (findings-context.ts). */
export function draftPrompt(goal: string, unanswered: readonly string[] = []): string {
  // Questions whose research failed: the report should say what it could not cover, not paper over it.
  const gaps = unanswered.length > 0 ? `\n\nThese questions could not be researched; say so in the summary:\n${unanswered.map((question) => `- ${question}`).join('\n')}` : '';
  return `Goal: ${goal}${gaps}`;
}
