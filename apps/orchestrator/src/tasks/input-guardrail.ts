import type { SubmitTaskRequest } from '@atelier/contracts';
import type { AuditEventInput } from '@atelier/persistence';
import { isSecretField, REDACTED, redactSecrets, type SecretKind } from '@atelier/observability';

/** A credential the guardrail masked: where (a field path) and what kind, never the value. */
export interface GuardrailFinding {
  path: string;
  kinds: (SecretKind | 'secret-named-field')[];
}

export interface ScreenedSubmission {
  /** The request with every credential masked: what is stored, planned from and sent to models. */
  request: SubmitTaskRequest;
  findings: GuardrailFinding[];
}

/** The rule's name in `guardrail.flagged` events. */
export const INPUT_CREDENTIALS_RULE = 'input-credentials';

/**
 * The input guardrail of task submission: a credential pasted into a goal or metadata
 * (an Anthropic key, a bearer token, `password=…`, a private key, a metadata field named
 * like a secret…) is masked before the task is stored, planned or shown to a model, and
 * the task goes on with the masked text. The patterns are the ones that keep secrets out
 * of logs (libs/observability secret-redaction), so the two never disagree.
 */
export function screenTaskInput(request: SubmitTaskRequest): ScreenedSubmission {
  const findings: GuardrailFinding[] = [];
  const goal = redactSecrets(request.input.goal);
  if (goal.kinds.length > 0) findings.push({ path: 'input.goal', kinds: goal.kinds });
  const screened: SubmitTaskRequest = { ...request, input: { ...request.input, goal: goal.text } };
  if (request.metadata) screened.metadata = screenMetadata(request.metadata, findings);
  return { request: screened, findings };
}

function screenMetadata(metadata: NonNullable<SubmitTaskRequest['metadata']>, findings: GuardrailFinding[]): NonNullable<SubmitTaskRequest['metadata']> {
  const screened: NonNullable<SubmitTaskRequest['metadata']> = {};
  for (const [key, value] of Object.entries(metadata)) {
    // A key can hold a pasted secret too; the path names the masked key, never the secret.
    const name = redactSecrets(key);
    const path = `metadata.${name.text}`;
    const kinds: GuardrailFinding['kinds'] = [...name.kinds];
    let masked = value;
    if (isSecretField(key) && value !== '') {
      kinds.push('secret-named-field');
      masked = REDACTED;
    } else if (typeof value === 'string') {
      const text = redactSecrets(value);
      kinds.push(...text.kinds);
      masked = text.text;
    }
    if (kinds.length > 0) findings.push({ path, kinds: [...new Set(kinds)] });
    screened[name.text] = masked;
  }
  return screened;
}

/** The `guardrail.flagged` event of a submission whose input was masked (written in its transaction). */
export function guardrailFlaggedEvent(
  findings: readonly GuardrailFinding[],
  common: Pick<AuditEventInput, 'tenantId' | 'taskId' | 'traceId' | 'requestId'> & { taskId: string },
): AuditEventInput | undefined {
  if (findings.length === 0) return undefined;
  return {
    ...common,
    action: 'guardrail.flagged',
    actor: 'service:orchestrator',
    subject: `task:${common.taskId}`,
    data: { rule: INPUT_CREDENTIALS_RULE, decision: 'masked', findings: findings.map((finding) => ({ path: finding.path, kinds: [...finding.kinds] })) },
  };
}
