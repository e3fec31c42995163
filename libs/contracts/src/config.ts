import { z } from 'zod';
import { AUDIT_CAPTURE_MODES } from './audit';

// Twelve-factor configuration: every process validates its environment at boot and
// stops with one line per bad variable, naming it, never printing a secret's value.

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

/** Variables that only tests may set: a process started with one under NODE_ENV=production refuses to start. */
export const TEST_ONLY_VARIABLES = ['ATELIER_TEST_CLOCK_FILE'] as const;

export function loadConfig<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // Empty strings count as unset: `FOO=` in a manifest means "use the default".
  const source = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  if (source['NODE_ENV'] === 'production') {
    const testOnly = TEST_ONLY_VARIABLES.filter((variable) => source[variable] !== undefined);
    if (testOnly.length) throw new ConfigError(testOnly.map((variable) => `config: ${variable} is for tests only and refused when NODE_ENV=production`));
  }
  const parsed = schema.safeParse(source);
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    parsed.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? '(environment)');
      const problem = issue.code === 'invalid_type' && source[variable] === undefined ? 'is required' : issue.message;
      return `config: ${variable} ${problem}`;
    }),
  );
}

export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  url: (protocols: string[]) =>
    z.string().refine(
      (value) => {
        try {
          return protocols.includes(new URL(value).protocol.replace(':', ''));
        } catch {
          return false;
        }
      },
      { message: `must be a URL (${protocols.join(', ')})` },
    ),
  natsServers: () =>
    z
      .string()
      .default('nats://127.0.0.1:4222')
      .refine((value) => value.split(',').every((server) => /^(nats|tls):\/\/[^\s]+$/.test(server.trim())), {
        message: 'must be nats:// URLs separated by commas',
      }),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  positiveInt: (fallback: number, max = 1_000_000) => z.coerce.number().int().min(1).max(max).default(fallback),
  intRange: (fallback: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(fallback),
  /** Comma-separated milliseconds, e.g. `1000,5000,15000`. */
  delayList: (fallback: readonly number[]) =>
    z
      .string()
      .default(fallback.join(','))
      .refine((value) => value.split(',').every((part) => /^\s*\d{1,7}\s*$/.test(part)), { message: 'must be milliseconds separated by commas, e.g. 1000,5000' })
      .transform((value) => value.split(',').map((part) => Number(part.trim()))),
  secret: (minLength: number) => z.string().min(minLength, `must be at least ${minLength} characters`),
};

/** Variables every service reads. */
export const CommonEnv = z.object({
  DATABASE_URL: env.url(['postgres', 'postgresql']),
  NATS_URL: env.natsServers(),
  NATS_USER: z.string().optional(),
  NATS_PASSWORD: z.string().optional(),
  NATS_TOKEN: z.string().optional(),
  LOG_LEVEL: env.logLevel(),
  DATABASE_POOL_MAX: env.positiveInt(10, 200),
  SHUTDOWN_GRACE_MS: env.positiveInt(10_000, 600_000),
  /** How long a step may go without a heartbeat before JetStream redelivers it; every service must agree (each provisions the consumers). */
  STEP_ACK_WAIT_MS: env.intRange(30_000, 1_000, 3_600_000),
  OTEL_EXPORTER_OTLP_ENDPOINT: env.url(['http', 'https']).optional(),
  /** OTLP over HTTP only: gRPC would add a large dependency for nothing the collector lacks. */
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf', 'http/json'], { message: 'must be http/protobuf or http/json' }).optional(),
  /** Content of prompts, outputs and goals kept in the audit trail besides their SHA-256. */
  AUDIT_CAPTURE: z.enum(AUDIT_CAPTURE_MODES).default('redacted'),
  /**
   * TEST ONLY (refused when NODE_ENV=production): a file holding a signed offset in
   * milliseconds that every budget computation adds to the system clock, so end-to-end
   * tests cross 00:00 UTC without waiting for it.
   */
  ATELIER_TEST_CLOCK_FILE: z.string().startsWith('/', 'must be an absolute path').optional(),
});
