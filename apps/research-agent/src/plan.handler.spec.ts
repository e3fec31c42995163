import { StepFailure } from '@atelier/agent-runtime';
import { scriptedStep } from '@atelier/testing';
import { plan } from './plan.handler';

const stepReplying = (...replies: string[]) => scriptedStep('research.plan', { goal: 'Heat pumps for older houses' }, replies);

describe('research.plan handler', () => {
  it('returns the questions of a valid JSON plan, tolerating a code fence', async () => {
    const step = stepReplying('```json\n{"questions": ["What do they cost?", "How loud are they?"]}\n```');
    await expect(plan(step)).resolves.toEqual({ questions: ['What do they cost?', 'How loud are they?'], model: 'claude-haiku-5-5' });
    expect(step.requests.map((request) => request.prompt)).toEqual(['Goal: Heat pumps for older houses']);
  });

  it.each([
    ['prose', 'Here are some questions: what do they cost?'],
    ['one question', '{"questions": ["What do they cost?"]}'],
    ['six questions', JSON.stringify({ questions: ['Q one?', 'Q two?', 'Q three?', 'Q four?', 'Q five?', 'Q six?'].map((q) => `${q} in detail`) })],
    ['a repeated question', '{"questions": ["What do they cost?", "what do they cost?"]}'],
    ['an empty question', '{"questions": ["What do they cost?", ""]}'],
    ['an extra field', '{"questions": ["What do they cost?", "How loud are they?"], "note": "x"}'],
  ])('fails %s as INVALID_OUTPUT, retryable', async (_name, reply) => {
    const failure = await plan(stepReplying(reply)).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StepFailure);
    expect(failure).toMatchObject({ code: 'INVALID_OUTPUT', retryable: true });
  });

  it('refuses an input without a goal, not retryable', async () => {
    const step = scriptedStep('research.plan', {}, []);
    await expect(plan(step)).rejects.toMatchObject({ code: 'HANDLER_ERROR', retryable: false });
  });
});
