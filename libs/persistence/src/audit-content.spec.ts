import { createHash } from 'node:crypto';
import { captureContent } from './audit-content';

// Assembled at run time so secret scanners do not flag these made-up keys.
const anthropicKey = ['sk', 'ant', 'api03', 'abcdefghijklmnopqrstuvwxyz012345'].join('-');
const atelierKey = `at_${'Q'.repeat(43)}`;
const text = `Brief me on heat pumps. Use ${anthropicKey}, password=hunter22 and ${atelierKey}; mail jane.doe@example.org or call +44 20 7946 0958 about order 12345.`;

describe(captureContent.name, () => {
  const sha256 = createHash('sha256').update(text).digest('hex');

  it('keeps only the SHA-256 and length with AUDIT_CAPTURE=none', () => {
    expect(captureContent(text, 'none')).toEqual({ sha256, length: text.length });
  });

  it('keeps the text without secrets or personal identifiers with AUDIT_CAPTURE=redacted (the default)', () => {
    const captured = captureContent(text, 'redacted');
    expect(captured.sha256).toBe(sha256);
    expect(captured.content).toBe(
      'Brief me on heat pumps. Use [REDACTED], password=[REDACTED] and [REDACTED]; mail [EMAIL] or call [NUMBER] about order 12345.',
    );
  });

  it('keeps people but never secrets with AUDIT_CAPTURE=full', () => {
    const captured = captureContent(text, 'full');
    expect(captured.content).toContain('jane.doe@example.org');
    expect(captured.content).toContain('+44 20 7946 0958');
    for (const secret of [anthropicKey, 'hunter22', atelierKey]) expect(captured.content).not.toContain(secret);
  });

  it('hashes the original text, so a copy kept elsewhere can be matched to the event', () => {
    expect(captureContent('', 'redacted')).toEqual({ sha256: createHash('sha256').update('').digest('hex'), length: 0, content: '' });
  });
});
