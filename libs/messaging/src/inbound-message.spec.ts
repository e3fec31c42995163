import { headers, type Msg } from '@nats-io/transport-node';
import { parseAckSubject, toInboundMessage } from './inbound-message';

type FakeMsg = Msg & { respond: jest.Mock };

/** A delivery as the server sends it: the reply subject is the message's ack subject. */
function fakeDelivery(payload: string, headerValues: Record<string, string> = {}): FakeMsg {
  const h = headers();
  for (const [name, value] of Object.entries(headerValues)) h.set(name, value);
  return {
    subject: 'agent.research.steps',
    reply: '$JS.ACK.AGENT_RESEARCH.research-workers.2.7.41.1763890000000000000.3',
    data: new TextEncoder().encode(payload),
    headers: h,
    respond: jest.fn(() => true),
  } as unknown as FakeMsg;
}

const sent = (msg: FakeMsg) => msg.respond.mock.calls.map(([payload]) => new TextDecoder().decode(payload as Uint8Array));

describe(toInboundMessage.name, () => {
  it('parses JSON and exposes headers, msg id, delivery count and stream sequence from the ack subject', () => {
    const msg = fakeDelivery('{"type":"step.dispatch"}', { 'Nats-Msg-Id': 'step-1:1', traceparent: '00-abc-def-01' });
    const message = toInboundMessage(msg, jest.fn());
    expect(message.data).toEqual({ type: 'step.dispatch' });
    expect(message.decodeError).toBeUndefined();
    expect(message.msgId).toBe('step-1:1');
    expect(message.header('traceparent')).toBe('00-abc-def-01');
    expect(message.header('atelier-tenant')).toBeUndefined();
    expect(message).toMatchObject({ subject: 'agent.research.steps', deliveryCount: 2, streamSequence: 7, settled: false });
  });

  it('reads the newer ack subject form (domain and account hash) too, and refuses anything else', () => {
    expect(parseAckSubject('$JS.ACK.hub.ACCHASH.STREAM.consumer.3.12.40.1763890000000000000.0.token')).toEqual({ deliveryCount: 3, streamSequence: 12 });
    expect(() => parseAckSubject('_INBOX.abc')).toThrow(/not a JetStream delivery/);
  });

  it('reports invalid JSON as a decode error with undefined data', () => {
    const message = toInboundMessage(fakeDelivery('{not json'), jest.fn());
    expect(message.data).toBeUndefined();
    expect(message.decodeError).toBeInstanceOf(SyntaxError);
    expect(new TextDecoder().decode(message.raw)).toBe('{not json');
  });

  it('settles exactly once: later ack, nak, term and working are no-ops', () => {
    const msg = fakeDelivery('{}');
    const message = toInboundMessage(msg, jest.fn());
    message.working();
    message.nak(1_000);
    message.ack();
    message.term('late');
    message.nak();
    message.working();
    expect(sent(msg)).toEqual(['+WPI', '-NAK {"delay":1000000000}']);
    expect(message.settled).toBe(true);
  });

  it('acks, naks without a delay, and terms without a reason on the wire, handing the reason to onTerm', () => {
    const acked = fakeDelivery('{}');
    toInboundMessage(acked, jest.fn()).ack();
    const naked = fakeDelivery('{}');
    toInboundMessage(naked, jest.fn()).nak();
    const termed = fakeDelivery('{}');
    const onTerm = jest.fn();
    toInboundMessage(termed, onTerm).term('poison');
    expect([sent(acked), sent(naked), sent(termed)]).toEqual([['+ACK'], ['-NAK'], ['+TERM']]);
    expect(onTerm).toHaveBeenCalledWith('poison');
  });
});
