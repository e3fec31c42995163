import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { ClosedConnectionError, DrainingConnectionError } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { type InboundMessage, toInboundMessage } from './inbound-message';
import { UnsettledMessageError } from './messaging-errors';

/** `signal` aborts when `stop(graceMs)` runs out of grace: stop the work, settle the message (e.g. nak it) quickly. */
export type MessageHandler = (message: InboundMessage, signal: AbortSignal) => void | Promise<void>;

/** What the loop noticed; it logs nothing itself, so whoever starts it decides what to log or count. */
export type ConsumerLoopEvent =
  /** A pull could not be made or ended in error (server gone, JetStream restarting); retried after a pause. */
  | { readonly type: 'pull_failed'; readonly error: unknown }
  /** The server's idle heartbeats stopped arriving on an open pull. */
  | { readonly type: 'heartbeats_missed'; readonly count: number }
  /** Server-side trouble reported on a pull; the loop keeps pulling and recovers once it is fixed. */
  | { readonly type: 'consumer_not_found' | 'stream_not_found' | 'consumer_deleted' | 'no_responders' | 'exceeded_limits' }
  /** A handler called `term`, so the message will never be delivered again. */
  | { readonly type: 'terminated'; readonly subject: string; readonly streamSequence: number; readonly reason?: string }
  /** The NATS connection was closed for good; the loop has stopped. */
  | { readonly type: 'connection_closed' };

export interface ConsumerLoopOptions {
  readonly js: JetStreamClient;
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
  /** How long one pull request waits on the server for a message. Default 10 s, minimum 1 s. */
  readonly pullExpiresMs?: number;
  /** After the grace period, how long aborted handlers get to settle their own messages before the loop naks them. Default 2 s. */
  readonly abortSettleMs?: number;
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
const PULL_RETRY_DELAY_MS = 1_000;
const DEFAULT_ABORT_SETTLE_MS = 2_000;

/**
 * Starts `concurrency` slots, each pulling ONE message, handling it, then pulling the
 * next. `consume()` is not used because it refills its buffer ahead of the handlers:
 * messages would wait in memory while their ack timer runs, and a process would hold
 * more than its share of the queue while other replicas sit idle.
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
  private readonly openPulls = new Set<ConsumerMessages>();
  private readonly handling = new Set<InboundMessage>();
  private stateWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  /** Cuts short the pause between failed pulls when the loop stops. */
  private readonly stopping = new AbortController();
  /** Handed to every handler; aborted when the grace period of stop() is over. */
  private readonly graceOver = new AbortController();
  private stopped?: Promise<void>;
  private consumer?: Promise<Consumer>;
  private readonly unsettledNakDelayMs: number;
  private readonly pullExpiresMs: number;

  constructor(private readonly options: ConsumerLoopOptions) {
    this.unsettledNakDelayMs = options.unsettledNakDelayMs ?? DEFAULT_UNSETTLED_NAK_DELAY_MS;
    this.pullExpiresMs = options.pullExpiresMs ?? DEFAULT_PULL_EXPIRES_MS;
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
    for (let slot = 0; slot < this.options.concurrency; slot++) void this.runSlot();
  }

  pause(): void {
    if (this.state !== 'running') return;
    this.state = 'paused';
    // An open pull would still deliver whatever arrives; closing it withdraws the request
    // (the server drops pull requests whose reply subject lost its subscriber).
    this.closeOpenPulls();
  }

  resume(): void {
    if (this.state !== 'paused') return;
    this.state = 'running';
    this.wakeSlots();
  }

  stop(graceMs: number): Promise<void> {
    this.stopped ??= this.shutdown(graceMs);
    return this.stopped;
  }

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

  private async idleWithin(ms: number): Promise<void> {
    if (this.handling.size === 0) return;
    const timer = new AbortController();
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await Promise.race([idle, sleep(ms, undefined, { signal: timer.signal }).catch(() => undefined)]);
    timer.abort();
  }

  private halt(): void {
    this.state = 'stopped';
    this.stopping.abort();
    this.closeOpenPulls();
    this.wakeSlots();
  }

  private async runSlot(): Promise<void> {
    while (await this.mayPull()) {
      const msg = await this.pullOne();
      if (msg) await this.handle(msg);
    }
  }

  private async mayPull(): Promise<boolean> {
    while (this.state === 'paused') await new Promise<void>((resolve) => this.stateWaiters.push(resolve));
    return this.state === 'running';
  }

  /** One pull request for one message; undefined when it expired, was withdrawn, or failed. */
  private async pullOne(): Promise<JsMsg | undefined> {
    let pull: ConsumerMessages;
    try {
      const consumer = await this.lookUpConsumer();
      pull = await consumer.fetch({ max_messages: 1, expires: this.pullExpiresMs });
    } catch (error) {
      await this.pullFailed(error);
      return undefined;
    }
    // pause() or stop() may have run while fetch() was being set up.
    if (this.state !== 'running') {
      // Not awaited: close() settles only once the iterator runs, and this one never will.
      void pull.close();
      return undefined;
    }
    this.openPulls.add(pull);
    void this.forwardStatus(pull);
    try {
      // Leaving the loop early closes the pull; the library re-issues it by itself after
      // a reconnect, so a server restart only costs the time to reconnect.
      for await (const msg of pull) return msg;
      return undefined;
    } catch (error) {
      await this.pullFailed(error);
      return undefined;
    } finally {
      this.openPulls.delete(pull);
    }
  }

  /** Looked up once and shared by the slots; a failed look-up is retried by the next pull. */
  private lookUpConsumer(): Promise<Consumer> {
    this.consumer ??= this.options.js.consumers.get(this.options.stream, this.options.durable).catch((error: unknown) => {
      this.consumer = undefined;
      throw error;
    });
    return this.consumer;
  }

  private async pullFailed(error: unknown): Promise<void> {
    if (error instanceof ClosedConnectionError || error instanceof DrainingConnectionError) {
      if (this.state !== 'stopped') {
        this.halt();
        this.emit({ type: 'connection_closed' });
      }
      return;
    }
    if (this.state === 'stopped') return;
    this.emit({ type: 'pull_failed', error });
    await sleep(PULL_RETRY_DELAY_MS, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }

  private async forwardStatus(pull: ConsumerMessages): Promise<void> {
    for await (const status of pull.status()) {
      switch (status.type) {
        case 'heartbeats_missed':
          this.emit({ type: status.type, count: status.count });
          break;
        case 'consumer_not_found':
        case 'stream_not_found':
        case 'consumer_deleted':
        case 'no_responders':
        case 'exceeded_limits':
          this.emit({ type: status.type });
          break;
        default:
        // heartbeats, pull bookkeeping and debug notices: routine, not worth an event
      }
    }
  }

  private async handle(msg: JsMsg): Promise<void> {
    const message = toInboundMessage(msg, (reason) =>
      this.emit({ type: 'terminated', subject: msg.subject, streamSequence: msg.seq, reason }),
    );
    // A message can arrive in the instant stop() withdraws the pull: give it back at once.
    if (this.state === 'stopped') {
      message.nak();
      return;
    }
    this.handling.add(message);
    try {
      await this.options.handler(message, this.graceOver.signal);
      if (!message.settled) this.giveBack(message, new UnsettledMessageError(`handler returned without settling ${msg.subject} #${msg.seq}`));
    } catch (error) {
      this.giveBack(message, error);
    } finally {
      this.handling.delete(message);
      if (this.handling.size === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
    }
  }

  private giveBack(message: InboundMessage, error: unknown): void {
    message.nak(this.unsettledNakDelayMs);
    try {
      this.options.onUnhandledError?.(error, message);
    } catch {
      // A failing error reporter must not take the slot down with it.
    }
  }

  private emit(event: ConsumerLoopEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // A failing event listener must not take the slot down with it.
    }
  }

  private closeOpenPulls(): void {
    for (const pull of this.openPulls) void pull.close();
  }

  private wakeSlots(): void {
    this.stateWaiters.splice(0).forEach((wake) => wake());
  }
}
