// Secrets must never reach a log line, an error body or the audit trail. Paths catch
// the fields we know; value patterns catch a secret pasted where we did not expect it
// (a task goal, an upstream error message).

export const REDACTED = '[REDACTED]';

export const REDACT_PATHS = [
  'apiKey',
  'api_key',
  'password',
  'token',
  'authorization',
  'key',
  '*.apiKey',
  '*.api_key',
  '*.password',
  '*.token',
  '*.authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
];

const VALUE_PATTERNS: readonly RegExp[] = [
  /sk-ant-[A-Za-z0-9_-]{8,}/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /(x-api-key["']?\s*[:=]\s*["']?)[^\s"',}]+/gi,
  /(password["']?\s*[:=]\s*["']?)[^\s"',}&]+/gi,
  /\bat_[A-Za-z0-9_-]{16,}/g,
  /(postgres(?:ql)?:\/\/[^:/\s]+:)[^@\s]+@/gi,
];

export function redactText(text: string): string {
  let out = text;
  for (const pattern of VALUE_PATTERNS) {
    out = out.replace(pattern, (match, prefix?: string) =>
      typeof prefix === 'string' && match.startsWith(prefix) ? `${prefix}${REDACTED}${match.endsWith('@') ? '@' : ''}` : REDACTED,
    );
  }
  return out;
}

/** Deep copy with every string passed through redactText; cycles and depth are bounded. */
export function redactValue<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = redactValue(item, depth + 1);
  return out as T;
}
