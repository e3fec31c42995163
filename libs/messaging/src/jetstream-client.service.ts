import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { type JetStreamManager, jetstreamManager, type JetStreamClient as NatsJetStreamClient, type PubAck } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { traceHeaders, withConsumerSpan, withPublishSpan } from '@atelier/observability';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ConsumerHandle, type ConsumerLoopEvent, type ConsumerLoopOptions, startConsumer } from './consumer-loop';
import { NatsNotReadyError } from './messaging-errors';
import { MESSAGING_OPTIONS, type MessagingModuleOptions } from './messaging-options';
import { connectNats } from './nats-connection';
import { ensureConsumers, ensureStreams } from './provisioning';
import { jsonHeaders, publishJson, type PublishJsonOptions } from './publisher';
import { type Follower, followSubject, type FollowOptions } from './subject-follower';
import { queueDepth } from './queue-depth';

export type ConsumerOptions = Omit<ConsumerLoopOptions, 'nc'>;

const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
/** A drain waits for the server to confirm; with the server gone it would wait forever. */
const DRAIN_TIMEOUT_MS = 5_000;
/** Below the JetStream API's own 5 s timeout: a probe that hangs tells the kubelet less than one that fails. */
const READINESS_TIMEOUT_MS = 2_000;

/**
 * The process's one NATS connection: connects and provisions on module init, is a
 * readiness check (`name`, `isReady`), stops its consumers before shutdown and drains last.
 */
@Injectable()
export class JetStreamClient implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  readonly name = 'nats';
  private readonly logger = new Logger(JetStreamClient.name);
  private connection?: NatsConnection;
  private manager?: JetStreamManager;
  private client?: NatsJetStreamClient;
  /** Follows the connection's status events: false from a disconnect until the reconnect. */
  private connected = false;
  private readonly consumers = new Set<ConsumerHandle>();

  constructor(@Inject(MESSAGING_OPTIONS) private readonly options: MessagingModuleOptions) {}

  get js(): NatsJetStreamClient {
    if (!this.client) throw new Error('JetStreamClient is not initialised: onModuleInit has not run');
    return this.client;
  }

  get natsConnection(): NatsConnection {
    if (!this.connection) throw new Error('JetStreamClient is not initialised: onModuleInit has not run');
    return this.connection;
  }

  get jsm(): JetStreamManager {
    if (!this.manager) throw new Error('JetStreamClient is not initialised: onModuleInit has not run');
    return this.manager;
  }

  async onModuleInit(): Promise<void> {
    const nc = await connectNats(this.options);
    this.connection = nc;
    this.connected = true;
    void this.followStatus(nc);
    try {
      this.manager = await jetstreamManager(nc);
      this.client = this.manager.jetstream();
      await ensureStreams(this.manager, this.options.streams);
      await ensureConsumers(this.manager, this.options.consumers);
    } catch (error) {
      // Nest runs no shutdown hooks when init fails; an open socket would keep the process alive.
      await nc.close();
      throw error;
    }
    this.logger.log(
      `connected to ${nc.getServer()}; ${this.options.streams.length} streams and ${this.options.consumers.length} consumers provisioned`,
    );
  }

  /**
   * Publishes in a PRODUCER span of the active trace, whose W3C headers go with the
   * message: the consumer's span continues the same trace, process after process.
   */
  publishJson(subject: string, payload: unknown, options: PublishJsonOptions): Promise<PubAck> {
    return withPublishSpan({ subject, messageId: options.msgId }, (trace) =>
      publishJson(this.js, subject, payload, { ...options, headers: { ...options.headers, ...trace } }),
    );
  }

  /**
   * Publishes without waiting for the stream's acknowledgement (a stream on the subject
   * still stores it, de-duplicated on msgId): for notices whose loss costs nothing but
   * latency, such as progress events. Never for work.
   */
  notify(subject: string, payload: unknown, options: PublishJsonOptions): void {
    const nc = this.connection;
    if (!nc || nc.isClosed()) return;
    nc.publish(subject, JSON.stringify(payload), { headers: jsonHeaders({ ...options, headers: { ...options.headers, ...traceHeaders() } }) });
  }

  /** Follows a subject in stream order (see followSubject). */
  follow(options: Omit<FollowOptions, 'js'>): Promise<Follower> {
    return followSubject({ ...options, js: this.js });
  }

  /**
   * Starts a consumer loop that shutdown will stop; events and handler failures are
   * logged unless you take them. Each message is handled inside a CONSUMER span that
   * continues the publisher's trace, so the handler's spans and log lines join it.
   */
  startConsumer(options: ConsumerOptions): ConsumerHandle {
    const where = `${options.stream}/${options.durable}`;
    const { handler } = options;
    const handle = startConsumer({
      onEvent: (event) => this.logConsumerEvent(where, event),
      onUnhandledError: (error, message) =>
        this.logger.error(`${where}: handler failed on ${message.subject} (delivery ${message.deliveryCount}): ${describe(error)}`),
      ...options,
      handler: (message, signal) =>
        withConsumerSpan(
          { subject: message.subject, messageId: message.header('Nats-Msg-Id'), header: (name) => message.header(name), consumer: options.durable, deliveryCount: message.deliveryCount },
          async () => handler(message, signal),
        ),
      nc: this.natsConnection,
    });
    this.consumers.add(handle);
    return handle;
  }

  queueDepth(stream: string, durable: string): Promise<number> {
    return queueDepth(this.jsm, stream, durable);
  }

  async isReady(): Promise<void> {
    const nc = this.connection;
    if (!nc) throw new NatsNotReadyError('NATS is not connected yet');
    if (nc.isClosed() || nc.isDraining()) throw new NatsNotReadyError('NATS connection is closed');
    if (!this.connected) throw new NatsNotReadyError('NATS connection lost; reconnecting');
    let answer: unknown;
    try {
      answer = await within(this.jsm.getAccountInfo(), READINESS_TIMEOUT_MS);
    } catch (error) {
      throw new NatsNotReadyError(`JetStream does not answer: ${describe(error)}`, { cause: error });
    }
    if (answer === TIMED_OUT) throw new NatsNotReadyError(`JetStream did not answer within ${READINESS_TIMEOUT_MS} ms`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    const graceMs = this.options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
    await Promise.all([...this.consumers].map((handle) => handle.stop(graceMs)));
  }

  /** Drains so the last acks, naks and publishes reach the server before the socket closes. */
  async onApplicationShutdown(): Promise<void> {
    const nc = this.connection;
    if (!nc || nc.isClosed()) return;
    await within(nc.drain().catch(() => undefined), DRAIN_TIMEOUT_MS);
    if (!nc.isClosed()) await nc.close();
  }

  private async followStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        this.connected = false;
        this.logger.warn(`disconnected from ${status.server}; reconnecting`);
      } else if (status.type === 'reconnect') {
        this.connected = true;
        this.logger.log(`reconnected to ${status.server}`);
      }
    }
  }

  private logConsumerEvent(where: string, event: ConsumerLoopEvent): void {
    switch (event.type) {
      case 'pull_failed':
        this.logger.warn(`${where}: pull failed, retrying: ${describe(event.error)}`);
        break;
      case 'heartbeats_missed':
        this.logger.warn(`${where}: ${event.count} server heartbeats missed`);
        break;
      case 'terminated':
        this.logger.warn(`${where}: terminated ${event.subject} #${event.streamSequence}${event.reason ? `: ${event.reason}` : ''}`);
        break;
      default:
        this.logger.warn(`${where}: ${event.type.replaceAll('_', ' ')}`);
    }
  }
}

const TIMED_OUT = Symbol('timed out');

/** The promise's value, or TIMED_OUT when it takes longer than `ms` (the promise itself is left to finish). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  const timer = new AbortController();
  try {
    return await Promise.race([promise, sleep(ms, TIMED_OUT, { signal: timer.signal })]);
  } finally {
    timer.abort();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
