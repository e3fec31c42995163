import { stdSerializers } from 'pino';

// Secrets must never reach a log line, an error body, a span or the audit trail. Field
// names catch the secrets we know of, at any depth; value patterns catch a secret pasted
// where we did not expect it (a task goal, an upstream error message, an error's cause).

export const REDACTED = '[REDACTED]';

/** pino's own path redaction: the fast path for the fields every request log carries. */
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
  'headers.cookie',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
];

/** A field with one of these names holds a secret whatever its value looks like. */
const SECRET_FIELD =
  /^(?:[a-z0-9]*[_-])?(?:password|passwd|pwd|secret|client_secret|api[_-]?key|apikey|token|access_token|refresh_token|id_token|auth_token|authorization|proxy-authorization|x-api-key|cookie|set-cookie|credentials?|private_key)$/i;

/** A name that introduces a secret in free text: `password=…`, `"api_key": "…"`, `x-api-key: …`. */
const SECRET_ASSIGNMENT =
  /([A-Za-z0-9_-]*(?:password|passwd|pwd|secret|api[_-]?key|apikey|access[_-]?token|refresh[_-]?token|auth[_-]?token|token)["']?\s*[:=]\s*["']?)[^\s"',;}&]+/gi;

const VALUE_PATTERNS: readonly RegExp[] = [
  /sk-ant-[A-Za-z0-9_-]{8,}/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /\bBasic\s+[A-Za-z0-9+/]{8,}={0,2}/g,
  SECRET_ASSIGNMENT,
  // our own API keys
  /\bat_[A-Za-z0-9_-]{16,}/g,
  // credentials inside any URL: postgres://user:secret@host, nats://user:secret@host
  /(\b[a-z][a-z0-9+.-]*:\/\/[^:/\s@]+:)[^@\s/]+@/gi,
];

export function redactText(text: string): string {
  let out = text;
  for (const pattern of VALUE_PATTERNS) {
    out = out.replace(pattern, (match, prefix?: unknown) =>
      typeof prefix === 'string' && match.startsWith(prefix) ? `${prefix}${REDACTED}${match.endsWith('@') ? '@' : ''}` : REDACTED,
    );
  }
  return out;
}

export function isSecretField(name: string): boolean {
  return SECRET_FIELD.test(name);
}

const MAX_DEPTH = 8;

/**
 * Deep copy safe to print: secret-named fields replaced, every string passed through
 * `redactText`, errors (wherever they sit, causes included) serialized then redacted.
 * Cycles and depth are bounded.
 */
export function redactValue<T>(value: T): T {
  return redact(value, 0, new WeakSet()) as T;
}

function redact(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return '[too deep]';
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  try {
    if (value instanceof Error) return redact(serializeError(value), depth + 1, seen);
    if (value instanceof Date) return value;
    if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1, seen));
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = isSecretField(key) && item !== null && item !== undefined && item !== '' ? REDACTED : redact(item, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/** pino's error shape (type, message and stack with causes folded in, own fields), plus an AggregateError's errors. */
function serializeError(error: Error): Record<string, unknown> {
  const serialized: Record<string, unknown> = { ...stdSerializers.err(error) };
  if (error instanceof AggregateError) serialized['errors'] = error.errors;
  return serialized;
}
