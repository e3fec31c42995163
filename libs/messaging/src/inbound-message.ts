import type { JsMsg } from '@nats-io/jetstream';

/** What a handler sees: parsed JSON plus the settlement calls, each of which takes effect once. */
export interface InboundMessage {
  readonly subject: string;
  /** The parsed JSON payload; `undefined` when it did not parse (see `decodeError`). */
  readonly data: unknown;
  /** Set when the payload is not valid JSON; such a message can never succeed, so `term` it. */
  readonly decodeError?: Error;
  readonly raw: Uint8Array;
  /** The publisher's Nats-Msg-Id, when it set one. */
  readonly msgId?: string;
  /** 1 on first delivery, 2 on the first redelivery, ... */
  readonly deliveryCount: number;
  readonly streamSequence: number;
  /** True once ack, nak or term was called (by the handler or by the loop). */
  readonly settled: boolean;
  header(name: string): string | undefined;
  ack(): void;
  /** Redeliver after `delayMs`, or at once without it. */
  nak(delayMs?: number): void;
  /** Never redeliver. The reason goes to the loop's `onEvent`, not to the server (see below). */
  term(reason?: string): void;
  /** Resets the server's ack timer; call it more often than the consumer's ack wait during long work. */
  working(): void;
}

const decoder = new TextDecoder();

/** Wraps a JetStream message so that only the first ack/nak/term reaches the server. */
export function toInboundMessage(msg: JsMsg, onTerm: (reason: string | undefined) => void): InboundMessage {
  let settled = false;
  const settleOnce = (settle: () => void) => {
    if (settled) return;
    settled = true;
    settle();
  };
  const { data, decodeError } = decodeJson(msg.data);
  const header = (name: string) => (msg.headers?.has(name) ? msg.headers.get(name) : undefined);
  return {
    subject: msg.subject,
    data,
    decodeError,
    raw: msg.data,
    msgId: header('Nats-Msg-Id'),
    deliveryCount: msg.info.deliveryCount,
    streamSequence: msg.seq,
    get settled() {
      return settled;
    },
    header,
    ack: () => settleOnce(() => msg.ack()),
    nak: (delayMs) => settleOnce(() => msg.nak(delayMs)),
    // A reason on the wire (`+TERM <reason>`) needs server 2.11: older servers, Debian's
    // 2.9 included, do not recognise it, leave the message pending and redeliver it.
    term: (reason) =>
      settleOnce(() => {
        msg.term();
        onTerm(reason);
      }),
    working: () => {
      if (!settled) msg.working();
    },
  };
}

function decodeJson(raw: Uint8Array): { data: unknown; decodeError?: Error } {
  try {
    return { data: JSON.parse(decoder.decode(raw)) };
  } catch (error) {
    return { data: undefined, decodeError: error as Error };
  }
}
