import { env, loadConfig } from '@atelier/contracts';
import { z } from 'zod';
import { FAULT_KINDS, type FaultKind } from './faults';

const wholeMilliseconds = (fallback: number, max: number) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number of milliseconds')
    .min(0, 'must be >= 0')
    .max(max, `must be <= ${max}`)
    .default(fallback);

export const SimulatorEnv = z.object({
  PORT: env.port(8090),
  HOST: z
    .string()
    .regex(/^[0-9a-fA-F.:]+$|^localhost$/, 'must be an IP address or localhost')
    .default('127.0.0.1'),
  SIM_LATENCY_MS: wholeMilliseconds(0, 600_000),
  SIM_LATENCY_PER_TOKEN_MS: wholeMilliseconds(0, 60_000),
  SIM_FAULT: z.enum(['none', ...FAULT_KINDS], { error: `must be one of none, ${FAULT_KINDS.join(', ')}` }).default('none'),
  SIM_FAULT_RATE: z.coerce.number({ error: 'must be a number' }).min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').optional(),
  SIM_RETRY_AFTER_SECONDS: z.coerce.number({ error: 'must be a number' }).min(0, 'must be >= 0').max(86_400, 'must be <= 86400').default(2),
  SIM_HANG_MS: wholeMilliseconds(600_000, 3_600_000),
});

/** How the simulator behaves when a request does not say otherwise. */
export interface SimulatorBehaviour {
  /** Fixed delay before the first byte of an answer. */
  latencyMs: number;
  /** Extra delay per output token (spread across the deltas of a stream). */
  latencyPerTokenMs: number;
  /** A fault applied to /v1/messages at `faultRate`; undefined for none. */
  fault?: FaultKind;
  faultRate: number;
  retryAfterSeconds: number;
  /** How long a `hang` fault holds the connection before dropping it. */
  hangMs: number;
}

export interface SimulatorConfig extends SimulatorBehaviour {
  port: number;
  host: string;
}

/** Validates the environment; a bad value throws a ConfigError with one line per variable. */
export function loadSimulatorConfig(source: NodeJS.ProcessEnv = process.env): SimulatorConfig {
  const parsed = loadConfig(SimulatorEnv, source);
  const fault = parsed.SIM_FAULT === 'none' ? undefined : parsed.SIM_FAULT;
  return {
    port: parsed.PORT,
    host: parsed.HOST,
    latencyMs: parsed.SIM_LATENCY_MS,
    latencyPerTokenMs: parsed.SIM_LATENCY_PER_TOKEN_MS,
    fault,
    // Setting a fault without a rate means "every request".
    faultRate: parsed.SIM_FAULT_RATE ?? 1,
    retryAfterSeconds: parsed.SIM_RETRY_AFTER_SECONDS,
    hangMs: parsed.SIM_HANG_MS,
  };
}
