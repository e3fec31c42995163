import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { AuditCaptureMode } from '@atelier/contracts';
import { redactText } from '@atelier/observability';

/**
 * How a prompt, output or goal appears in an audit event's data: always its SHA-256 (of the
 * original text, so a copy kept elsewhere can be matched) and length; its text only as
 * AUDIT_CAPTURE allows. Secrets never: every captured text passes through redactText.
 */
export type CapturedContent = {
  sha256: string;
  length: number;
  content?: string;
};

// `redacted` also masks what identifies people, which `full` keeps.
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
/** Phone, card and account numbers: nine or more digits, possibly grouped by spaces or dashes. */
const LONG_NUMBER = /(?<![\w.])\+?\d(?:[ -]?\d){8,}(?![\w.])/g;

export function captureContent(text: string, mode: AuditCaptureMode): CapturedContent {
  const captured: CapturedContent = { sha256: createHash('sha256').update(text, 'utf8').digest('hex'), length: text.length };
  if (mode === 'none') return captured;
  const withoutSecrets = redactText(text);
  captured.content = mode === 'full' ? withoutSecrets : withoutPersonalData(withoutSecrets);
  return captured;
}

function withoutPersonalData(text: string): string {
  // The e-mail pattern starts with a character class, so it is tried at every position: text without an `@` (most text) is not scanned.
  const withoutEmails = text.includes('@') ? text.replace(EMAIL, '[EMAIL]') : text;
  return withoutEmails.replace(LONG_NUMBER, '[NUMBER]');
}

export const AUDIT_CAPTURE_MODE = Symbol('AUDIT_CAPTURE_MODE');

/** captureContent with the process's configured AUDIT_CAPTURE, for injection where events are written. */
@Injectable()
export class AuditContentCapture {
  constructor(@Inject(AUDIT_CAPTURE_MODE) readonly mode: AuditCaptureMode) {}

  capture(text: string): CapturedContent {
    return captureContent(text, this.mode);
  }
}
