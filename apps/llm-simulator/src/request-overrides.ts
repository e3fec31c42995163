import type { IncomingHttpHeaders } from 'node:http';
import { invalidRequest } from './api-error';
import { FAULT_KINDS, type FaultKind, isFaultKind } from './faults';
import type { CountTokensRequest } from './request-validation';

/** What one request may ask of the simulator, through headers or directives in its text. */
export interface RequestOverrides {
  fault?: FaultKind;
  latencyMs?: number;
  retryAfterSeconds?: number;
}

const MAX_LATENCY_MS = 600_000;
const DIRECTIVE = /\[\[sim:(fault|latency)=([^\]\s]*)\]\]/gi;

/** `x-sim-fault`, `x-sim-latency-ms`, `x-sim-retry-after`: extra headers the SDK can send per call. */
export function readHeaderOverrides(headers: IncomingHttpHeaders): RequestOverrides {
  const fault = single(headers['x-sim-fault']);
  const latency = single(headers['x-sim-latency-ms']);
  const retryAfter = single(headers['x-sim-retry-after']);
  return {
    fault: fault === undefined ? undefined : faultKind(fault, 'x-sim-fault header'),
    latencyMs: latency === undefined ? undefined : milliseconds(latency, 'x-sim-latency-ms header'),
    retryAfterSeconds: retryAfter === undefined ? undefined : seconds(retryAfter, 'x-sim-retry-after header'),
  };
}

/**
 * `[[sim:fault=<kind>]]` and `[[sim:latency=<ms>]]` anywhere in the system prompt or the
 * messages, so a test can steer one task through its goal. The first of each wins.
 */
export function readDirectiveOverrides(request: Pick<CountTokensRequest, 'system' | 'messages'>): RequestOverrides {
  const overrides: RequestOverrides = {};
  const texts = [...request.system, ...request.messages.flatMap((message) => message.content)].map((block) => block.text);
  for (const text of texts) {
    for (const [, name, value] of text.matchAll(DIRECTIVE)) {
      if (name.toLowerCase() === 'fault') overrides.fault ??= faultKind(value, 'directive [[sim:fault]]');
      else overrides.latencyMs ??= milliseconds(value, 'directive [[sim:latency]]');
    }
  }
  return overrides;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function faultKind(value: string, source: string): FaultKind {
  if (!isFaultKind(value)) throw invalidRequest(`${source}: must be one of ${FAULT_KINDS.join(', ')}`);
  return value;
}

function milliseconds(value: string, source: string): number {
  const ms = Number(value);
  if (!/^\d+$/.test(value) || ms > MAX_LATENCY_MS) throw invalidRequest(`${source}: must be an integer from 0 to ${MAX_LATENCY_MS}`);
  return ms;
}

function seconds(value: string, source: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !(parsed >= 0)) throw invalidRequest(`${source}: must be a number of seconds >= 0`);
  return parsed;
}
