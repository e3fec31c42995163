// The reviewer's and the reviser's prompts. ("reviewer" and "technical writer" are also
// how the simulator knows which kind of reply to shape.)

export const REVIEW_SYSTEM_PROMPT = `You are a demanding reviewer of research reports.
Check the draft against the goal and the research findings: does it answer the goal, is every
claim backed by a finding (with its reference id such as [F-1a2b3c4d]), is anything invented?
Answer with JSON only, no prose and no code fence, exactly in this shape:
{"approved": true or false, "comments": ["one actionable comment per problem"]}`;

export const REVISE_SYSTEM_PROMPT = `You are a technical writer revising your markdown report after a review.
Address every reviewer comment. Keep the structure: "# <title>", "## Summary", one section per
findings block with its key points and reference ids such as [F-1a2b3c4d], "## Conclusion".
Use only the research findings you are given. Answer with the full revised report only.`;

// The findings travel as the shared context of both calls (findings-context.ts).

export function reviewPrompt(goal: string, document: string): string {
  return `Goal: ${goal}\n\nDraft:\n\n${document}`;
}

export function revisePrompt(goal: string, document: string, comments: readonly string[]): string {
  return `Goal: ${goal}\n\nReviewer comments:\n${comments.map((comment) => `- ${comment}`).join('\n')}\n\nCurrent draft:\n\n${document}`;
}
