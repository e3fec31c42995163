import { randomBytes } from 'node:crypto';
import { SubmitTaskRequest } from '@atelier/contracts';
import { guardrailFlaggedEvent, screenTaskInput } from './input-guardrail';

// Secrets are assembled at run time: no literal in this file looks like a real key.
const anthropicKey = ['sk', 'ant', 'api03', randomBytes(16).toString('hex')].join('-');
const bearer = ['Bearer', randomBytes(12).toString('base64url')].join(' ');
const pem = ['-----BEGIN RSA PRIVATE', 'KEY-----\n', randomBytes(48).toString('base64'), '\n-----END RSA PRIVATE', 'KEY-----'].join(' ');
const request = (goal: string, metadata?: Record<string, string | number | boolean>) => SubmitTaskRequest.parse({ input: { goal }, ...(metadata ? { metadata } : {}) });

describe(screenTaskInput.name, () => {
  it('masks every credential of the goal, keeps the rest, and says which kinds it found there', () => {
    const goal = `Summarise our vendor contract. Key ${anthropicKey}, db password=hunter2, header ${bearer}, and ${pem} end.`;
    const { request: screened, findings } = screenTaskInput(request(goal));
    const text = screened.input.goal;
    for (const secret of [anthropicKey, 'hunter2', bearer, 'PRIVATE KEY']) expect(text).not.toContain(secret);
    expect(text).toContain('Summarise our vendor contract.');
    expect(text).toContain('password=[REDACTED]');
    expect(text).toMatch(/ end\.$/);
    expect(findings).toEqual([{ path: 'input.goal', kinds: ['private-key', 'anthropic-api-key', 'bearer-token', 'password'] }]);
  });

  it('masks metadata values that hold a credential and fields named like one, by path', () => {
    const { request: screened, findings } = screenTaskInput(
      request('Brief me on heat pumps', { team: 'energy', apiKey: 'plain-looking', note: `x-api-key: ${randomBytes(8).toString('hex')}`, retries: 3, pin: 1234 }),
    );
    expect(screened.metadata).toEqual({ team: 'energy', apiKey: '[REDACTED]', note: 'x-api-key: [REDACTED]', retries: 3, pin: 1234 });
    expect(findings).toEqual([
      { path: 'metadata.apiKey', kinds: ['secret-named-field'] },
      { path: 'metadata.note', kinds: ['api-key'] },
    ]);
    expect(screened.input.goal).toBe('Brief me on heat pumps');
  });

  it('changes nothing and flags nothing in an ordinary request', () => {
    const original = request('Compare district heating with heat pumps; cite sources.', { team: 'energy' });
    const { request: screened, findings } = screenTaskInput(original);
    expect(screened).toEqual(original);
    expect(findings).toEqual([]);
    expect(guardrailFlaggedEvent(findings, { taskId: 't', tenantId: null })).toBeUndefined();
  });

  it('records where and what, never the value, in the guardrail.flagged event', () => {
    const { findings } = screenTaskInput(request(`use ${anthropicKey} please`));
    const event = guardrailFlaggedEvent(findings, { taskId: 'task-1', tenantId: 'tenant-1', traceId: 'trace', requestId: 'req' });
    expect(event).toEqual({
      action: 'guardrail.flagged',
      actor: 'service:orchestrator',
      subject: 'task:task-1',
      taskId: 'task-1',
      tenantId: 'tenant-1',
      traceId: 'trace',
      requestId: 'req',
      data: { rule: 'input-credentials', decision: 'masked', findings: [{ path: 'input.goal', kinds: ['anthropic-api-key'] }] },
    });
    expect(JSON.stringify(event)).not.toContain(anthropicKey.slice(7));
  });
});
