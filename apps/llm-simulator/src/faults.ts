import { ApiError, invalidRequest } from './api-error';

export const FAULT_KINDS = ['400', '429', '529', '500', 'hang', 'reset', 'stream-cut'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export function isFaultKind(value: string): value is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(value);
}

export interface ScriptedFault {
  fault: FaultKind;
  /** How many matching requests it still applies to. */
  count: number;
  /** A substring the request's raw JSON body must contain. */
  match?: string;
  retryAfterSeconds?: number;
}

export type FaultSource = 'scripted' | 'header' | 'directive' | 'env';

export interface FaultDecision {
  kind: FaultKind;
  source: FaultSource;
  /** Only set by a scripted fault; otherwise the header, then the environment, decide. */
  retryAfterSeconds?: number;
}

/** Faults a test queued through POST /_sim/faults, consumed in order by the requests they match. */
export class FaultQueue {
  private readonly entries: ScriptedFault[] = [];

  enqueue(fault: ScriptedFault): void {
    this.entries.push({ ...fault });
  }

  /** Takes one use of the first entry that matches `bodyText`. */
  take(bodyText: string): FaultDecision | undefined {
    const entry = this.entries.find((candidate) => candidate.match === undefined || bodyText.includes(candidate.match));
    if (!entry) return undefined;
    entry.count -= 1;
    if (entry.count === 0) this.entries.splice(this.entries.indexOf(entry), 1);
    return { kind: entry.fault, source: 'scripted', retryAfterSeconds: entry.retryAfterSeconds };
  }

  get pending(): number {
    return this.entries.reduce((sum, entry) => sum + entry.count, 0);
  }

  clear(): void {
    this.entries.length = 0;
  }
}

/**
 * Decides whether the environment's fault hits the next request. Spread evenly by a
 * counter instead of drawn at random, so a rate of 0.25 fails exactly requests 4, 8,
 * 12, ... and a test run is repeatable.
 */
export class FaultSchedule {
  private requests = 0;

  constructor(private readonly rate: number) {}

  next(): boolean {
    this.requests += 1;
    return Math.floor(this.requests * this.rate) > Math.floor((this.requests - 1) * this.rate);
  }

  reset(): void {
    this.requests = 0;
  }
}

/** Precedence: scripted queue, then header, then directive in the text, then environment. */
export function chooseFault(candidates: {
  scripted?: FaultDecision;
  header?: FaultKind;
  directive?: FaultKind;
  env?: () => FaultKind | undefined;
}): FaultDecision | undefined {
  if (candidates.scripted) return candidates.scripted;
  if (candidates.header) return { kind: candidates.header, source: 'header' };
  if (candidates.directive) return { kind: candidates.directive, source: 'directive' };
  const fromEnv = candidates.env?.();
  return fromEnv ? { kind: fromEnv, source: 'env' } : undefined;
}

/** The API error a status fault answers with; undefined for faults that break the connection instead. */
export function errorForFault(kind: FaultKind): ApiError | undefined {
  switch (kind) {
    case '400':
      return new ApiError(400, 'invalid_request_error', 'messages: the request was refused (simulated).');
    case '429':
      return new ApiError(429, 'rate_limit_error', 'This request would exceed the rate limit for your organization (simulated).');
    case '529':
      return new ApiError(529, 'overloaded_error', 'Overloaded (simulated).');
    case '500':
      return new ApiError(500, 'api_error', 'Internal server error (simulated).');
    default:
      return undefined;
  }
}

/** Reads the body of POST /_sim/faults. */
export function parseScriptedFault(body: unknown): ScriptedFault {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidRequest('request body: Input should be a valid JSON object');
  const { fault, count = 1, match, retryAfterSeconds } = body as Record<string, unknown>;
  if (typeof fault !== 'string' || !isFaultKind(fault)) throw invalidRequest(`fault: Input should be one of ${FAULT_KINDS.join(', ')}`);
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) throw invalidRequest('count: Input should be a positive integer');
  if (match !== undefined && (typeof match !== 'string' || match === '')) throw invalidRequest('match: Input should be a non-empty string');
  if (retryAfterSeconds !== undefined && (typeof retryAfterSeconds !== 'number' || !(retryAfterSeconds >= 0))) {
    throw invalidRequest('retryAfterSeconds: Input should be a number >= 0');
  }
  return { fault, count, match, retryAfterSeconds };
}
