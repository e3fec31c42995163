import { startNatsServer, type NatsTestServer } from '@atelier/testing';
import { type JetStreamClient, type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Status } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ConsumerHandle, type ConsumerLoopEvent, startConsumer } from './consumer-loop';
import { connectNats } from './nats-connection';
import { ensureConsumers, ensureStreams } from './provisioning';
import { publishJson } from './publisher';

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}

async function nextStatus(nc: NatsConnection, type: Status['type']): Promise<void> {
  for await (const status of nc.status()) if (status.type === type) return;
}

/** Publishing right after a restart can hit JetStream before it is back; the caller would retry too. */
async function publishWithRetry(js: JetStreamClient, subject: string, n: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await publishJson(js, subject, { n }, { msgId: `restart-${n}` });
      return;
    } catch (error) {
      if (attempt === 20) throw error;
      await sleep(250);
    }
  }
}

describe(startConsumer.name, () => {
  let server: NatsTestServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let js: JetStreamClient;
  let handle: ConsumerHandle;
  /** The one loop both tests share: it is started once and never restarted. */
  const handled: number[] = [];
  const events: ConsumerLoopEvent[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: server.url, name: 'consumer-loop-restart-spec' });
    jsm = await jetstreamManager(nc);
    js = jsm.jetstream();
    await ensureStreams(jsm, [{ stream: 'RESTART', subjects: ['restart.work'], retention: 'workqueue' }]);
    await ensureConsumers(jsm, [{ stream: 'RESTART', durable: 'workers', filterSubject: 'restart.work', ackWaitMs: 30_000, maxDeliver: 5, backoffMs: [] }]);
    handle = startConsumer({
      nc,
      stream: 'RESTART',
      durable: 'workers',
      concurrency: 2,
      onEvent: (event) => events.push(event),
      handler: (message) => {
        handled.push((message.data as { n: number }).n);
        message.ack();
      },
    });
  });

  afterAll(async () => {
    await handle?.stop(0);
    await nc?.close();
    await server?.stop();
  });

  it('keeps consuming across a NATS server restart without restarting the client', async () => {
    await publishWithRetry(js, 'restart.work', 1);
    await waitFor(() => handled.length === 1, 5_000);

    const reconnected = nextStatus(nc, 'reconnect');
    await server.restart();
    await reconnected;
    for (const n of [2, 3, 4]) await publishWithRetry(js, 'restart.work', n);

    await waitFor(() => handled.length === 4, 10_000);
    expect([...handled].sort()).toEqual([1, 2, 3, 4]);
    expect(handle.running).toBe(true);
    expect(events).not.toContainEqual({ type: 'connection_closed' });
  });

  it('keeps consuming after the server crashes (SIGKILL) and comes back', async () => {
    const before = handled.length;
    const reconnected = nextStatus(nc, 'reconnect');
    server.kill();
    await server.restart();
    await reconnected;
    for (const n of [5, 6]) await publishWithRetry(js, 'restart.work', n);

    await waitFor(() => handled.length === before + 2, 10_000);
    expect(handled.slice(before).sort()).toEqual([5, 6]);
    expect(handle.running).toBe(true);
  });
});
