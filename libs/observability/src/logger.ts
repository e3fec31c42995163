import pino, { type Logger } from 'pino';
import { activeLogFields } from './log-context';
import { REDACT_PATHS, REDACTED, redactText, redactValue } from './secret-redaction';

export type { Logger } from 'pino';

export interface LoggerOptions {
  service: string;
  level?: string;
  /** Where lines go; stdout by default. Tests pass a stream to read them back. */
  destination?: pino.DestinationStream;
}

/**
 * One JSON line per event: `service` on every line; `traceId`, `spanId` of the active
 * span and the fields of `withLogFields` (task id, step id) taken from the async context;
 * secrets redacted by field name, by path and by value pattern, in messages, fields and
 * errors (their causes included) alike.
 */
export function createLogger({ service, level = 'info', destination }: LoggerOptions): Logger {
  const logger = pino(
    {
      level,
      base: { service },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      mixin: () => activeLogFields(),
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => redactValue(object),
      },
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((arg) => (typeof arg === 'string' ? redactText(arg) : arg)) as Parameters<typeof method>,
          );
        },
      },
      serializers: { err: (error: unknown) => redactValue(error) },
    },
    destination,
  );
  // A child's bindings (`logger.child({ goal })`) skip the `log` formatter and pino gives
  // children no bindings formatter: redact them on the way in. Children inherit this.
  const pinoChild = logger.child;
  logger.child = function child(this: Logger, bindings, options) {
    return pinoChild.call(this, redactValue(bindings), options);
  } as Logger['child'];
  return logger;
}
