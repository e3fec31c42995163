import { createHash } from 'node:crypto';
import type { InboundMessage } from './inbound-message';

export interface RejectionIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * What is recorded of a message that is terminated as unusable (bad schema, unknown
 * step): where it came from and why, but of the payload only its size and SHA-256, since
 * a poison message may carry anything.
 */
export function describeRejection(message: InboundMessage, stream: string, reason: string, issues: readonly RejectionIssue[]) {
  return {
    reason,
    stream,
    subject: message.subject,
    streamSequence: message.streamSequence,
    deliveryCount: message.deliveryCount,
    msgId: message.msgId ?? null,
    issues: issues.map((issue) => ({ path: issue.path, message: issue.message })),
    payloadBytes: message.raw.byteLength,
    payloadSha256: createHash('sha256').update(message.raw).digest('hex'),
  };
}

/** The first few schema problems, as `{path, message}`. */
export function schemaIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): RejectionIssue[] {
  return issues.slice(0, 5).map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}
