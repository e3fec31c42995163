import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type OrderedConsumerOptions } from '@nats-io/jetstream';

export interface FollowedMessage {
  readonly subject: string;
  /** Parsed JSON; undefined when the payload is not JSON. */
  readonly data: unknown;
  readonly streamSequence: number;
  /** Messages of the subject still in the stream after this one when it was delivered (0: caught up). */
  readonly pending: number;
}

export interface FollowOptions {
  readonly js: JetStreamClient;
  readonly stream: string;
  /** A subject or a wildcard filter within the stream. */
  readonly subject: string;
  /** First stream sequence to deliver; without it only messages published from now on arrive. */
  readonly startSequence?: number;
  /** Called in stream order, one message at a time. */
  readonly onMessage: (message: FollowedMessage) => void | Promise<void>;
  /** The follower stopped for good (connection closed); not called after `stop()`. */
  readonly onEnd?: (error?: unknown) => void;
}

export interface Follower {
  /** Messages of the subject that were already in the stream when following began (from `startSequence`). */
  readonly backlog: number;
  stop(): Promise<void>;
}

const decoder = new TextDecoder();

/**
 * Reads a subject of a stream in order through an ordered consumer: ephemeral, no acks,
 * and re-created by the client from the last sequence it saw after a reconnect, so
 * nothing is skipped. For readers that watch (SSE clients, cancellation notices), not for
 * work queues.
 */
export async function followSubject(options: FollowOptions): Promise<Follower> {
  const config: Partial<OrderedConsumerOptions> =
    options.startSequence !== undefined ?
      { filter_subjects: options.subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, options.startSequence) }
    : { filter_subjects: options.subject, deliver_policy: DeliverPolicy.New };
  const consumer = await options.js.consumers.get(options.stream, config);
  const backlog = (await consumer.info(true)).num_pending;
  const messages: ConsumerMessages = await consumer.consume();
  let stopped = false;
  void (async () => {
    try {
      for await (const msg of messages) {
        let data: unknown;
        try {
          data = JSON.parse(decoder.decode(msg.data));
        } catch {
          data = undefined;
        }
        await options.onMessage({ subject: msg.subject, data, streamSequence: msg.seq, pending: msg.info.pending });
      }
      if (!stopped) options.onEnd?.();
    } catch (error) {
      if (!stopped) options.onEnd?.(error);
    }
  })();
  return {
    backlog,
    async stop() {
      if (stopped) return;
      stopped = true;
      await messages.close().catch(() => undefined);
      // Ordered consumers expire on their own; deleting saves the server the wait.
      await consumer.delete().catch(() => undefined);
    },
  };
}
