import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { type InboundMessage, toInboundMessage } from './inbound-message';
import { UnsettledMessageError } from './messaging-errors';

/** `signal` aborts when `stop(graceMs)` runs out of grace: stop the work, settle the message (e.g. nak it) quickly. */
export type MessageHandler = (message: InboundMessage, signal: AbortSignal) => void | Promise<void>;

/** What the loop noticed; it logs nothing itself, so whoever starts it decides what to log or count. */
export type ConsumerLoopEvent =
  /** A pull could not be served (consumer or JetStream missing, server restarting); retried after a pause. */
  | { readonly type: 'pull_failed'; readonly error: unknown }
  /** The server's idle heartbeats stopped arriving on open pulls; they are asked for again. */
  | { readonly type: 'heartbeats_missed'; readonly count: number }
  /** Server-side trouble reported on a pull; the loop keeps pulling and recovers once it is fixed. */
  | { readonly type: 'consumer_deleted' | 'exceeded_limits' }
  /** A handler called `term`, so the message will never be delivered again. */
  | { readonly type: 'terminated'; readonly subject: string; readonly streamSequence: number; readonly reason?: string }
  /** The NATS connection was closed for good; the loop has stopped. */
  | { readonly type: 'connection_closed' };

export interface ConsumerLoopOptions {
  readonly nc: NatsConnection;
  readonly stream: string;
  /** The durable pull consumer, provisioned beforehand (see `ensureConsumers`). */
  readonly durable: string;
  /** Most messages handled at once by this process; never more are pulled. */
  readonly concurrency: number;
  readonly handler: MessageHandler;
  /** A handler threw, or returned without settling; the loop has nak'ed the message. */
  readonly onUnhandledError?: (error: unknown, message: InboundMessage) => void;
  readonly onEvent?: (event: ConsumerLoopEvent) => void;
  /** Redelivery delay for messages the handler failed to settle. Default 5 s. */
  readonly unsettledNakDelayMs?: number;
  /** How long one pull request waits on the server for messages. Default 10 s, minimum 1 s. */
  readonly pullExpiresMs?: number;
  /** After the grace period, how long aborted handlers get to settle their own messages before the loop naks them. Default 2 s. */
  readonly abortSettleMs?: number;
  /** JetStream API subject prefix. Default `$JS.API`. */
  readonly apiPrefix?: string;
}

export interface ConsumerHandle {
  /**
   * Stops pulling, waits up to `graceMs` for running handlers, then aborts their signal and
   * gives them `abortSettleMs` to settle; naks what is still unsettled after that.
   */
  stop(graceMs: number): Promise<void>;
  /** Stops pulling new messages; running handlers carry on. */
  pause(): void;
  resume(): void;
  /** True until `stop` (paused loops are running). */
  readonly running: boolean;
  readonly paused: boolean;
  /** Handlers running right now. */
  readonly inFlight: number;
}

const DEFAULT_UNSETTLED_NAK_DELAY_MS = 5_000;
const DEFAULT_PULL_EXPIRES_MS = 10_000;
/** A message that reaches a paused loop (on a pull request made before the pause) goes back for this long. */
const PAUSED_NAK_DELAY_MS = 1_000;
const PULL_RETRY_DELAY_MS = 1_000;
const DEFAULT_ABORT_SETTLE_MS = 2_000;
const NANOS_PER_MS = 1_000_000;
const CONSUMER_INFO_TIMEOUT_MS = 5_000;
const encoder = new TextEncoder();

/**
 * Starts a consumer loop that never holds more than `concurrency` messages: it asks the
 * server (pull requests on one inbox) for exactly as many messages as it has free slots,
 * counting what it asked for and has not received yet, and hands each message to the
 * handler as it arrives. `consume()` is not used because it asks again as soon as its own
 * buffer runs low, whatever the handlers are doing: messages would wait in memory while
 * their ack timer runs, and a process would hold more than its share of the queue while
 * other replicas sit idle. Asking in batches (one request for all free slots) keeps the
 * cost per message to a fraction of one request each.
 *
 * Returns at once; a missing consumer or an unreachable server shows up as `pull_failed`
 * events and is retried until it is fixed or the loop is stopped.
 */
export function startConsumer(options: ConsumerLoopOptions): ConsumerHandle {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
  }
  const loop = new ConsumerLoop(options);
  loop.start();
  return loop;
}

type LoopState = 'running' | 'paused' | 'stopped';

class ConsumerLoop implements ConsumerHandle {
  private state: LoopState = 'running';
  private readonly handling = new Set<InboundMessage>();
  private idleWaiters: (() => void)[] = [];
  /** Handed to every handler; aborted when the grace period of stop() is over. */
  private readonly graceOver = new AbortController();
  private inbox?: Subscription;
  /** Messages asked for on the current inbox and neither delivered nor expired yet. */
  private requested = 0;
  private lastHeard = Date.now();
  private missedHeartbeats = 0;
  private retryTimer?: NodeJS.Timeout;
  private opening = false;
  private watchdog?: NodeJS.Timeout;
  private readonly unsettledNakDelayMs: number;
  private readonly pullExpiresMs: number;
  private readonly heartbeatMs: number;
  private readonly nextSubject: string;
  private readonly infoSubject: string;
  /** Below this many free slots, a loop that already has messages asked for waits to ask for more. */
  private readonly refillThreshold: number;

  constructor(private readonly options: ConsumerLoopOptions) {
    this.unsettledNakDelayMs = options.unsettledNakDelayMs ?? DEFAULT_UNSETTLED_NAK_DELAY_MS;
    this.pullExpiresMs = Math.max(1_000, options.pullExpiresMs ?? DEFAULT_PULL_EXPIRES_MS);
    this.heartbeatMs = Math.max(500, Math.min(5_000, this.pullExpiresMs / 2));
    this.nextSubject = `${options.apiPrefix ?? '$JS.API'}.CONSUMER.MSG.NEXT.${options.stream}.${options.durable}`;
    this.infoSubject = `${options.apiPrefix ?? '$JS.API'}.CONSUMER.INFO.${options.stream}.${options.durable}`;
    this.refillThreshold = Math.max(1, Math.ceil(options.concurrency / 2));
  }

  get running(): boolean {
    return this.state !== 'stopped';
  }

  get paused(): boolean {
    return this.state === 'paused';
  }

  get inFlight(): number {
    return this.handling.size;
  }

  start(): void {
    void this.options.nc.closed().then(() => {
      if (this.state === 'stopped') return;
      this.halt();
      this.emit({ type: 'connection_closed' });
    });
    void this.followReconnects();
    this.watchdog = setInterval(() => this.checkHeartbeats(), this.heartbeatMs);
    this.watchdog.unref();
    this.openInbox();
  }

  /**
   * Asks for nothing more. The inbox stays open: a pull request made before the pause may
   * still deliver, and what it delivers is given back at once. (Dropping the inbox instead
   * would not withdraw those requests: nats-server 2.9 would deliver into the void, and the
   * message would be stuck as in flight until its ack wait ran out.)
   */
  pause(): void {
    if (this.state !== 'running') return;
    this.state = 'paused';
  }

  resume(): void {
    if (this.state !== 'paused') return;
    this.state = 'running';
    if (this.inbox) this.refill();
    else this.openInbox();
  }

  stop(graceMs: number): Promise<void> {
    return (this.stopped ??= this.shutdown(graceMs));
  }

  private stopped?: Promise<void>;

  private async shutdown(graceMs: number): Promise<void> {
    this.halt();
    await this.idleWithin(graceMs);
    if (this.handling.size > 0) {
      // Out of grace: tell the handlers, who know best how to hand their work back.
      this.graceOver.abort(new Error('consumer stopping: grace period over'));
      await this.idleWithin(this.options.abortSettleMs ?? DEFAULT_ABORT_SETTLE_MS);
    }
    // No delay: another replica should pick these up now, not after the ack wait.
    for (const message of this.handling) message.nak();
  }

  private halt(): void {
    this.state = 'stopped';
    clearTimeout(this.retryTimer);
    clearInterval(this.watchdog);
    this.closeInbox();
  }

  /** Checks that the consumer exists (a pull to a missing one would just go unanswered), then asks for messages on a fresh inbox. */
  private openInbox(): void {
    if (this.state !== 'running' || this.inbox || this.opening || this.options.nc.isClosed()) return;
    this.opening = true;
    void this.consumerExists()
      .then(() => {
        if (this.state !== 'running' || this.inbox) return;
        this.requested = 0;
        this.lastHeard = Date.now();
        this.inbox = this.options.nc.subscribe(createInbox(), { callback: (error, msg) => this.receive(error, msg) });
        this.refill();
      }, (error: unknown) => this.pullFailed(error))
      .finally(() => (this.opening = false));
  }

  private async consumerExists(): Promise<void> {
    const reply = await this.options.nc.request(this.infoSubject, undefined, { timeout: CONSUMER_INFO_TIMEOUT_MS });
    const answer = reply.json<{ error?: { code: number; description: string } }>();
    if (answer.error) throw new Error(`consumer ${this.options.stream}/${this.options.durable}: ${answer.error.description} (${answer.error.code})`);
  }

  private closeInbox(): void {
    this.inbox?.unsubscribe();
    this.inbox = undefined;
    this.requested = 0;
  }

  /** Asks for as many messages as there are free slots (in one request), unless enough are on their way. */
  private refill(): void {
    if (this.state !== 'running' || !this.inbox) return;
    const free = this.options.concurrency - this.handling.size - this.requested;
    if (free <= 0 || (this.requested > 0 && free < this.refillThreshold)) return;
    const request = { batch: free, expires: this.pullExpiresMs * NANOS_PER_MS, idle_heartbeat: this.heartbeatMs * NANOS_PER_MS };
    try {
      this.options.nc.publish(this.nextSubject, encoder.encode(JSON.stringify(request)), { reply: this.inbox.getSubject() });
      this.requested += free;
    } catch (error) {
      this.pullFailed(error);
    }
  }

  private receive(error: Error | null, msg: Msg): void {
    if (error) return this.pullFailed(error);
    this.lastHeard = Date.now();
    this.missedHeartbeats = 0;
    if (msg.reply?.startsWith('$JS.ACK.')) return this.deliver(msg);
    this.status(msg);
  }

  /** Status messages on the inbox: heartbeats, expired requests, and server-side refusals. */
  private status(msg: Msg): void {
    const code = msg.headers?.code ?? 0;
    const description = (msg.headers?.description ?? '').toLowerCase();
    const undelivered = Number(msg.headers?.get('Nats-Pending-Messages') || 0);
    if (code === 100) return; // idle heartbeat: the requests are alive
    if (undelivered > 0) this.requested = Math.max(0, this.requested - undelivered);
    if (code === 408 || (code === 409 && description.includes('timeout'))) {
      // A request expired (its unserved remainder was just given back): ask again.
      return this.refill();
    }
    if (code === 409) {
      this.emit({ type: description.includes('deleted') ? 'consumer_deleted' : 'exceeded_limits' });
      return this.retryLater();
    }
    // 503 no responders (consumer or JetStream missing), 404 and anything unexpected.
    this.pullFailed(new Error(`pull failed: ${code} ${description || 'no responders (consumer or JetStream unavailable)'}`));
  }

  private deliver(msg: Msg): void {
    this.requested = Math.max(0, this.requested - 1);
    const message = toInboundMessage(msg, (reason) => this.emit({ type: 'terminated', subject: msg.subject, streamSequence: message.streamSequence, reason }));
    // A message can arrive in the instant stop() or pause() withdraws the requests, or beyond
    // what was asked for (requests re-issued after a reconnect while the old ones lived on):
    // give it back at once so the bound on held messages stays true.
    if (this.state === 'stopped' || this.handling.size >= this.options.concurrency) {
      message.nak();
      return;
    }
    if (this.state === 'paused') {
      message.nak(PAUSED_NAK_DELAY_MS);
      return;
    }
    void this.handle(message);
  }

  private async handle(message: InboundMessage): Promise<void> {
    this.handling.add(message);
    try {
      await this.options.handler(message, this.graceOver.signal);
      if (!message.settled) this.giveBack(message, new UnsettledMessageError(`handler returned without settling ${message.subject} #${message.streamSequence}`));
    } catch (error) {
      this.giveBack(message, error);
    } finally {
      this.handling.delete(message);
      if (this.handling.size === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
      this.refill();
    }
  }

  /** The server went quiet on open requests (restarted, or lost them): they are gone, ask again. */
  private checkHeartbeats(): void {
    if (this.state !== 'running' || !this.inbox || this.requested === 0) return;
    if (Date.now() - this.lastHeard < 2 * this.heartbeatMs + 500) return;
    this.missedHeartbeats += 1;
    this.emit({ type: 'heartbeats_missed', count: this.missedHeartbeats });
    this.lastHeard = Date.now();
    this.closeInbox();
    this.openInbox();
  }

  private async followReconnects(): Promise<void> {
    for await (const status of this.options.nc.status()) {
      if (this.state === 'stopped') return;
      // Pull requests do not survive a server restart; ask again on a fresh inbox.
      if (status.type === 'reconnect' && this.state === 'running') {
        this.closeInbox();
        this.openInbox();
      }
    }
  }

  private pullFailed(error: unknown): void {
    if (this.state === 'stopped' || this.options.nc.isClosed()) return;
    this.emit({ type: 'pull_failed', error });
    this.retryLater();
  }

  private retryLater(): void {
    this.closeInbox();
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.openInbox(), PULL_RETRY_DELAY_MS);
    this.retryTimer.unref();
  }

  private async idleWithin(ms: number): Promise<void> {
    if (this.handling.size === 0) return;
    const timer = new AbortController();
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await Promise.race([idle, sleep(ms, undefined, { signal: timer.signal }).catch(() => undefined)]);
    timer.abort();
  }

  private giveBack(message: InboundMessage, error: unknown): void {
    message.nak(this.unsettledNakDelayMs);
    try {
      this.options.onUnhandledError?.(error, message);
    } catch {
      // A failing error reporter must not take the loop down with it.
    }
  }

  private emit(event: ConsumerLoopEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // A failing event listener must not take the loop down with it.
    }
  }
}
