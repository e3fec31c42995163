import type { JsMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { toInboundMessage } from './inbound-message';

type FakeJsMsg = JsMsg & { ack: jest.Mock; nak: jest.Mock; term: jest.Mock; working: jest.Mock };

function fakeJsMsg(payload: string, headerValues: Record<string, string> = {}): FakeJsMsg {
  const h = headers();
  for (const [name, value] of Object.entries(headerValues)) h.set(name, value);
  return {
    subject: 'agent.research.steps',
    seq: 7,
    data: new TextEncoder().encode(payload),
    headers: h,
    info: { deliveryCount: 2 },
    ack: jest.fn(),
    nak: jest.fn(),
    term: jest.fn(),
    working: jest.fn(),
  } as unknown as FakeJsMsg;
}

describe(toInboundMessage.name, () => {
  it('parses JSON and exposes headers, msg id and delivery count', () => {
    const msg = fakeJsMsg('{"type":"step.dispatch"}', { 'Nats-Msg-Id': 'step-1:1', traceparent: '00-abc-def-01' });
    const message = toInboundMessage(msg, jest.fn());
    expect(message.data).toEqual({ type: 'step.dispatch' });
    expect(message.decodeError).toBeUndefined();
    expect(message.msgId).toBe('step-1:1');
    expect(message.header('traceparent')).toBe('00-abc-def-01');
    expect(message.header('atelier-tenant')).toBeUndefined();
    expect(message).toMatchObject({ subject: 'agent.research.steps', deliveryCount: 2, streamSequence: 7, settled: false });
  });

  it('reports invalid JSON as a decode error with undefined data', () => {
    const message = toInboundMessage(fakeJsMsg('{not json'), jest.fn());
    expect(message.data).toBeUndefined();
    expect(message.decodeError).toBeInstanceOf(SyntaxError);
    expect(new TextDecoder().decode(message.raw)).toBe('{not json');
  });

  it('settles exactly once: later ack, nak, term and working are no-ops', () => {
    const msg = fakeJsMsg('{}');
    const message = toInboundMessage(msg, jest.fn());
    message.working();
    message.nak(1_000);
    message.ack();
    message.term('late');
    message.nak();
    message.working();
    expect(msg.nak).toHaveBeenCalledTimes(1);
    expect(msg.nak).toHaveBeenCalledWith(1_000);
    expect(msg.ack).not.toHaveBeenCalled();
    expect(msg.term).not.toHaveBeenCalled();
    expect(msg.working).toHaveBeenCalledTimes(1);
    expect(message.settled).toBe(true);
  });

  it('terms without a reason on the wire and hands the reason to onTerm', () => {
    const msg = fakeJsMsg('{}');
    const onTerm = jest.fn();
    toInboundMessage(msg, onTerm).term('poison');
    expect(msg.term).toHaveBeenCalledWith();
    expect(onTerm).toHaveBeenCalledWith('poison');
  });
});
