import { startNatsServer, type NatsTestServer } from '@atelier/testing';
import { type JetStreamClient, type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from './nats-connection';
import { ensureConsumers, ensureStreams } from './provisioning';
import { publishJson } from './publisher';
import { queueDepth } from './queue-depth';

describe(queueDepth.name, () => {
  let server: NatsTestServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let js: JetStreamClient;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: server.url, name: 'queue-depth-spec' });
    jsm = await jetstreamManager(nc);
    js = jsm.jetstream();
    await ensureStreams(jsm, [{ stream: 'DEPTH', subjects: ['depth.work'], retention: 'workqueue' }]);
    await ensureConsumers(jsm, [{ stream: 'DEPTH', durable: 'workers', filterSubject: 'depth.work', ackWaitMs: 30_000, maxDeliver: 3, backoffMs: [] }]);
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('counts waiting and unacknowledged messages, and drops acknowledged ones', async () => {
    for (const n of [1, 2, 3]) await publishJson(js, 'depth.work', { n }, { msgId: `depth-${n}` });
    expect(await queueDepth(jsm, 'DEPTH', 'workers')).toBe(3);

    const msg = await (await js.consumers.get('DEPTH', 'workers')).next({ expires: 2_000 });
    // Delivered but not acknowledged: still work to do.
    expect(await queueDepth(jsm, 'DEPTH', 'workers')).toBe(3);

    await msg?.ackAck();
    expect(await queueDepth(jsm, 'DEPTH', 'workers')).toBe(2);
  });
});
