import { connect, type NatsConnection } from '@nats-io/transport-node';

export interface NatsConnectionOptions {
  /** One URL or several, e.g. `nats://nats:4222`. */
  readonly servers: string | readonly string[];
  /** Shows up in the server's connection list, so name it after the process. */
  readonly name: string;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
}

/**
 * Connects and never gives up: a worker without NATS has nothing to do, so it waits
 * (first connect included) rather than exiting, and readiness reports the outage.
 */
export function connectNats(options: NatsConnectionOptions): Promise<NatsConnection> {
  return connect({
    servers: typeof options.servers === 'string' ? options.servers : [...options.servers],
    name: options.name,
    user: options.user,
    pass: options.pass,
    token: options.token,
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    // A restarting server is usually back within a second or two; one attempt per
    // second (plus jitter, so a fleet does not reconnect in lockstep) finds it quickly.
    reconnectTimeWait: 1_000,
    reconnectJitter: 500,
    // Otherwise every request (each JetStream publish is one) builds an Error up front, to
    // name its caller should it fail: 1.7 % of the orchestrator's CPU under load
    // (bench/RESULTS.md). Our own spans and log fields say where an operation started.
    noAsyncTraces: true,
  });
}

/** The NATS settings every service reads from its environment (see CommonEnv in contracts). */
export function natsConnectionFromEnv(
  env: { NATS_URL: string; NATS_USER?: string; NATS_PASSWORD?: string; NATS_TOKEN?: string },
  name: string,
): NatsConnectionOptions {
  return { servers: env.NATS_URL, name, user: env.NATS_USER, pass: env.NATS_PASSWORD, token: env.NATS_TOKEN };
}
