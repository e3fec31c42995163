import type { ConsumerSpec, StreamSpec } from '@atelier/contracts';
import type { NatsConnectionOptions } from './nats-connection';

export interface MessagingModuleOptions extends NatsConnectionOptions {
  /** Provisioned (created or updated) at start-up, before anything publishes or consumes. */
  readonly streams: readonly StreamSpec[];
  readonly consumers: readonly ConsumerSpec[];
  /** How long shutdown waits for in-flight handlers before nak'ing them. Default 10 s. */
  readonly shutdownGraceMs?: number;
}

export const MESSAGING_OPTIONS = Symbol('MESSAGING_OPTIONS');
