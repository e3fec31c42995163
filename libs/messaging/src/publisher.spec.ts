import { HEADERS } from '@atelier/contracts';
import { startNatsServer, type NatsTestServer } from '@atelier/testing';
import { type JetStreamClient, type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from './nats-connection';
import { ensureConsumers, ensureStreams } from './provisioning';
import { publishJson } from './publisher';

describe(publishJson.name, () => {
  let server: NatsTestServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let js: JetStreamClient;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: server.url, name: 'publisher-spec' });
    jsm = await jetstreamManager(nc);
    js = jsm.jetstream();
    await ensureStreams(jsm, [{ stream: 'PUBLISH', subjects: ['publish.>'], retention: 'workqueue' }]);
    await ensureConsumers(jsm, [{ stream: 'PUBLISH', durable: 'reader', filterSubject: 'publish.headers', ackWaitMs: 30_000, maxDeliver: 3, backoffMs: [] }]);
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('drops a second message with the same msgId inside the duplicate window', async () => {
    const first = await publishJson(js, 'publish.dedupe', { n: 1 }, { msgId: 'step-1:1' });
    const second = await publishJson(js, 'publish.dedupe', { n: 1 }, { msgId: 'step-1:1' });

    expect(first.duplicate).toBe(false);
    expect(second).toMatchObject({ duplicate: true, seq: first.seq });
    expect((await jsm.streams.info('PUBLISH', { subjects_filter: 'publish.dedupe' })).state.subjects).toEqual({ 'publish.dedupe': 1 });
  });

  it('sends JSON with the msg id and the extra headers', async () => {
    await publishJson(js, 'publish.headers', { type: 'step.dispatch', version: 1 }, {
      msgId: 'step-2:1',
      headers: { [HEADERS.traceparent]: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', [HEADERS.tenant]: 'tenant-a' },
    });

    const msg = await (await js.consumers.get('PUBLISH', 'reader')).next({ expires: 2_000 });
    expect(msg?.json()).toEqual({ type: 'step.dispatch', version: 1 });
    expect(msg?.headers?.get('Nats-Msg-Id')).toBe('step-2:1');
    expect(msg?.headers?.get(HEADERS.traceparent)).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(msg?.headers?.get(HEADERS.tenant)).toBe('tenant-a');
    msg?.ack();
  });

  it('rejects a payload JSON cannot represent', async () => {
    await expect(publishJson(js, 'publish.nothing', undefined, { msgId: 'x' })).rejects.toThrow(TypeError);
  });
});
