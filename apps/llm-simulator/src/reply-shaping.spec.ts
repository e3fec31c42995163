import { recogniseStep, shapeReply } from './reply-shaping';
import type { CountTokensRequest } from './request-validation';

const request = (system: string, user: string): Pick<CountTokensRequest, 'system' | 'messages'> => ({
  system: [{ type: 'text', text: system }],
  messages: [{ role: 'user', content: [{ type: 'text', text: user }] }],
});
const GOAL = 'Explain the trade-offs of solid-state batteries for city buses';

describe(shapeReply.name, () => {
  it('is a pure function of the request', () => {
    for (const system of ['You are a research planner.', 'You are a research analyst.', 'You are a technical writer.', 'You are a reviewer.', 'Be helpful.']) {
      expect(shapeReply(request(system, GOAL))).toBe(shapeReply(request(system, GOAL)));
    }
    expect(shapeReply(request('Be helpful.', 'one question'))).not.toBe(shapeReply(request('Be helpful.', 'another question')));
  });

  it('plans 2 to 5 questions as JSON, each about the goal', () => {
    const counts = new Set<number>();
    for (const goal of [GOAL, 'Compare Postgres and MySQL replication', 'Summarise heat pump adoption in Norway', 'Kubernetes operators', 'Rust async runtimes']) {
      const { questions } = JSON.parse(shapeReply(request('You are a RESEARCH PLANNER.', goal))) as { questions: string[] };
      expect(questions.length).toBeGreaterThanOrEqual(2);
      expect(questions.length).toBeLessThanOrEqual(5);
      counts.add(questions.length);
      const lastWord = goal.slice(goal.lastIndexOf(' ') + 1).toLowerCase();
      for (const question of questions) expect(question.toLowerCase()).toContain(lastWord);
    }
    expect(counts.size).toBeGreaterThan(1);
  });

  it('writes findings with three key points, each with a stable [F-…] id, and sources', () => {
    const findings = shapeReply(request('You are a research analyst.', `Goal: ${GOAL}\n\nQuestion: How long do the cells last?`));
    expect(findings).toMatch(/^## Findings: How long do the cells last\?\n/);
    const points = findings.split('\n').filter((line) => line.startsWith('- Key point'));
    expect(points).toHaveLength(3);
    points.forEach((point, index) => expect(point).toMatch(new RegExp(`^- Key point ${index + 1}: .+ \\[F-[0-9a-f]{8}\\]$`)));
    expect(findings).toMatch(/\nSources: .+/);
  });

  it('drafts a document that quotes every finding id of its input', () => {
    const findings = ['What limits range?', 'What do the cells cost?'].map((question) =>
      shapeReply(request('You are a research analyst.', `Goal: ${GOAL}\n\nQuestion: ${question}`)),
    );
    const draft = shapeReply(request('You are a technical writer.', `Goal: ${GOAL}\n\nFindings:\n\n${findings.join('\n\n---\n\n')}`));
    expect(draft).toMatch(/^# Explain the trade-offs of solid-state batteries for city buses\n/);
    expect(draft).toContain('## Summary');
    expect(draft).toContain('## What limits range?');
    expect(draft).toContain('## What do the cells cost?');
    expect(draft.trimEnd()).toMatch(/## Conclusion\n\n.+$/);
    const ids = findings.join('\n').match(/\[F-[0-9a-f]{8}\]/g) ?? [];
    expect(ids).toHaveLength(6);
    for (const id of ids) expect(draft).toContain(id);
  });

  it('approves a draft unless told to reject it', () => {
    expect(JSON.parse(shapeReply(request('You are a reviewer.', 'A draft [F-0123abcd]')))).toEqual({ approved: true, comments: [expect.any(String)] });
    expect(JSON.parse(shapeReply(request('You are a reviewer.', 'A draft [[sim:review=reject]]')))).toMatchObject({ approved: false });
  });

  it('echoes the last user message otherwise, without directives', () => {
    const reply = shapeReply({
      system: [],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'first' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'ok' }] },
        { role: 'user', content: [{ type: 'text', text: 'What about penguins? [[sim:latency=5]]' }] },
      ],
    });
    expect(reply).toContain('"What about penguins?"');
    expect(reply).not.toContain('[[sim:');
  });
});

describe(recogniseStep.name, () => {
  it('recognises each step by its phrase, case-insensitively', () => {
    expect(recogniseStep('You are a Research Planner')).toBe('plan');
    expect(recogniseStep('You are a research analyst working for a report writer')).toBe('findings');
    expect(recogniseStep('You are a technical writer')).toBe('draft');
    expect(recogniseStep('You are the REVIEWER')).toBe('review');
    expect(recogniseStep('')).toBe('echo');
  });
});
