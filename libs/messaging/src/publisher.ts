import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { type MsgHdrs, headers as natsHeaders } from '@nats-io/transport-node';

export interface PublishJsonOptions {
  /**
   * Sent as Nats-Msg-Id: the stream drops a second message with the same id inside its
   * duplicate window, so derive it from what the message means, never at random.
   */
  readonly msgId: string;
  /** Extra headers, e.g. `traceparent` and `atelier-tenant`. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Publishes `payload` as JSON and resolves once the stream stored it (or recognised a duplicate: `PubAck.duplicate`). */
export function publishJson(js: JetStreamClient, subject: string, payload: unknown, options: PublishJsonOptions): Promise<PubAck> {
  const json = JSON.stringify(payload);
  // JSON.stringify returns undefined for undefined, functions and symbols.
  if (json === undefined) return Promise.reject(new TypeError(`payload for ${subject} is not JSON-serialisable`));
  return js.publish(subject, json, { headers: jsonHeaders(options) });
}

/** Nats-Msg-Id plus the caller's headers. */
export function jsonHeaders(options: PublishJsonOptions): MsgHdrs {
  const h = natsHeaders();
  h.set('Nats-Msg-Id', options.msgId);
  for (const [name, value] of Object.entries(options.headers ?? {})) h.set(name, value);
  return h;
}
