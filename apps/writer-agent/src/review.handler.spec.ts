import { StepFailure } from '@atelier/agent-runtime';
import { scriptedStep } from '@atelier/testing';
import { review } from './review.handler';

const input = { goal: 'Heat pumps', findings: ['## Findings: cost\n- Key point 1: cheap [F-0a1b2c3d]'], document: '# Draft', round: 1 };
const stepReplying = (...replies: string[]) => scriptedStep('writer.review', input, replies);

describe('writer.review handler', () => {
  it('keeps the document when the reviewer approves: one call', async () => {
    const step = stepReplying('{"approved": true, "comments": ["Clear."]}');
    await expect(review(step)).resolves.toEqual({ approved: true, comments: ['Clear.'], document: '# Draft', revised: false, round: 1 });
    expect(step.requests).toHaveLength(1);
  });

  it('revises along the comments when the reviewer rejects: critique, then revision', async () => {
    const step = stepReplying('{"approved": false, "comments": ["Cite a finding."]}', '# Revised\n');
    await expect(review(step)).resolves.toMatchObject({ approved: false, comments: ['Cite a finding.'], document: '# Revised', revised: true, round: 1 });
    expect(step.requests.map(({ system }) => (/technical writer/.test(system) ? 'revise' : /reviewer/.test(system) ? 'review' : '?'))).toEqual(['review', 'revise']);
    // The findings go once per call as the cacheable shared context, not inside the prompt.
    for (const request of step.requests) {
      expect(request.context).toBe(`Findings:\n\n${input.findings[0]}`);
      expect(request.prompt).not.toContain('[F-0a1b2c3d]');
    }
  });

  it('fails a verdict that is not the JSON asked for, and an empty revision, as INVALID_OUTPUT, retryable', async () => {
    for (const replies of [['Looks good to me!'], ['{"approved": "yes"}'], ['{"approved": false, "comments": []}', '   ']]) {
      const failure = await review(stepReplying(...replies)).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(StepFailure);
      expect(failure).toMatchObject({ code: 'INVALID_OUTPUT', retryable: true });
    }
  });
});
