import type { Msg } from '@nats-io/transport-node';

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
const encoder = new TextEncoder();

// JetStream's acknowledgement protocol: the payload sent to the message's reply subject.
const ACK = encoder.encode('+ACK');
const NAK = encoder.encode('-NAK');
const TERM = encoder.encode('+TERM');
const WORKING = encoder.encode('+WPI');

/** Delivery count and stream sequence from the reply subject, `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>...` (or the newer form with domain and account hash). */
export function parseAckSubject(reply: string): { deliveryCount: number; streamSequence: number } {
  const tokens = reply.split('.');
  if (tokens.length === 9) tokens.splice(2, 0, '_', '');
  if (tokens.length < 11 || tokens[0] !== '$JS' || tokens[1] !== 'ACK') throw new Error(`not a JetStream delivery: ${reply}`);
  return { deliveryCount: Number(tokens[6]), streamSequence: Number(tokens[7]) };
}

/**
 * Wraps a JetStream delivery (a message whose reply subject is its `$JS.ACK...` subject)
 * so that only the first ack/nak/term reaches the server.
 */
export function toInboundMessage(msg: Msg, onTerm: (reason: string | undefined) => void): InboundMessage {
  let settled = false;
  const settleOnce = (payload: Uint8Array) => {
    if (settled) return;
    settled = true;
    msg.respond(payload);
  };
  const { data, decodeError } = decodeJson(msg.data);
  const { deliveryCount, streamSequence } = parseAckSubject(msg.reply ?? '');
  const header = (name: string) => (msg.headers?.has(name) ? msg.headers.get(name) : undefined);
  return {
    subject: msg.subject,
    data,
    decodeError,
    raw: msg.data,
    msgId: header('Nats-Msg-Id'),
    deliveryCount,
    streamSequence,
    get settled() {
      return settled;
    },
    header,
    ack: () => settleOnce(ACK),
    nak: (delayMs) => settleOnce(delayMs ? encoder.encode(`-NAK ${JSON.stringify({ delay: delayMs * 1_000_000 })}`) : NAK),
    // A reason on the wire (`+TERM <reason>`) needs server 2.11: older servers, Debian's
    // 2.9 included, do not recognise it, leave the message pending and redeliver it.
    term: (reason) => {
      if (settled) return;
      settleOnce(TERM);
      onTerm(reason);
    },
    working: () => {
      if (!settled) msg.respond(WORKING);
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
