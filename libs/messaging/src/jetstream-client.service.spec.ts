import { CONSUMERS, STREAMS } from '@atelier/contracts';
import { startNatsServer, type NatsTestServer } from '@atelier/testing';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { setTimeout as sleep } from 'node:timers/promises';
import { JetStreamClient } from './jetstream-client.service';
import { NatsNotReadyError } from './messaging-errors';
import { MessagingModule } from './messaging.module';

async function eventually(assertion: () => Promise<void>, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await assertion();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
}

describe(JetStreamClient.name, () => {
  let server: NatsTestServer;
  let app: INestApplicationContext | undefined;

  beforeAll(async () => {
    server = await startNatsServer();
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  afterAll(async () => {
    await server?.stop();
  });

  async function startApp(): Promise<JetStreamClient> {
    app = await NestFactory.createApplicationContext(
      MessagingModule.forRoot({
        servers: server.url,
        name: 'jetstream-client-spec',
        streams: [STREAMS.research],
        consumers: [CONSUMERS.research],
        shutdownGraceMs: 2_000,
      }),
      { logger: false },
    );
    return app.get(JetStreamClient);
  }

  it('connects and provisions on init, then publishes, consumes and measures the queue', async () => {
    const client = await startApp();
    await expect(client.isReady()).resolves.toBeUndefined();
    expect(client.name).toBe('nats');
    const { stream, durable, filterSubject } = CONSUMERS.research;

    const ack = await client.publishJson(filterSubject, { hello: 'world' }, { msgId: 'service-1' });
    expect(ack.stream).toBe(stream);
    expect(await client.queueDepth(stream, durable)).toBe(1);

    const received: unknown[] = [];
    client.startConsumer({
      stream,
      durable,
      concurrency: 2,
      handler: (message) => {
        received.push(message.data);
        message.ack();
      },
    });
    await eventually(async () => expect(await client.queueDepth(stream, durable)).toBe(0));
    expect(received).toEqual([{ hello: 'world' }]);
  });

  it('lets in-flight handlers finish on shutdown, then drains and closes the connection', async () => {
    const client = await startApp();
    const { stream, durable, filterSubject } = CONSUMERS.research;
    let finished = false;
    const handle = client.startConsumer({
      stream,
      durable,
      concurrency: 1,
      handler: async (message) => {
        await sleep(300);
        message.ack();
        finished = true;
      },
    });
    await client.publishJson(filterSubject, { step: 1 }, { msgId: 'service-2' });
    await eventually(async () => expect(handle.inFlight).toBe(1));

    await app?.close();
    app = undefined;

    expect(finished).toBe(true);
    expect(handle.running).toBe(false);
    await expect(client.isReady()).rejects.toThrow('NATS connection is closed');
    // The ack went out before the drain closed the socket: nothing is left for the next worker.
    const probe = await startApp();
    expect(await probe.queueDepth(stream, durable)).toBe(0);
  });

  it('is not ready while NATS is down, and ready again once it is back', async () => {
    const client = await startApp();
    server.kill();
    await eventually(async () => {
      await expect(client.isReady()).rejects.toThrow(NatsNotReadyError);
    });
    await expect(client.isReady()).rejects.toThrow(/reconnecting/);

    await server.restart();
    await eventually(() => client.isReady());
  });
});
