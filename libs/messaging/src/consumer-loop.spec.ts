import type { ConsumerSpec } from '@atelier/contracts';
import { startNatsServer, type NatsTestServer } from '@atelier/testing';
import { type JetStreamClient, type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ConsumerHandle, type ConsumerLoopEvent, type ConsumerLoopOptions, startConsumer } from './consumer-loop';
import type { InboundMessage } from './inbound-message';
import { UnsettledMessageError } from './messaging-errors';
import { connectNats } from './nats-connection';
import { ensureConsumers, ensureStreams } from './provisioning';
import { publishJson } from './publisher';

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}

describe(startConsumer.name, () => {
  let server: NatsTestServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let js: JetStreamClient;
  let queues = 0;
  const handles: ConsumerHandle[] = [];

  /** A fresh workqueue stream and durable consumer per test, so tests cannot see each other's messages. */
  async function newQueue(consumer: Partial<ConsumerSpec> = {}) {
    queues += 1;
    const stream = `LOOP_${queues}`;
    const subject = `loop.${queues}`;
    await ensureStreams(jsm, [{ stream, subjects: [subject], retention: 'workqueue' }]);
    const spec: ConsumerSpec = { stream, durable: 'workers', filterSubject: subject, ackWaitMs: 30_000, maxDeliver: 5, backoffMs: [], ...consumer };
    await ensureConsumers(jsm, [spec]);
    const publish = (count: number) =>
      Promise.all(Array.from({ length: count }, (_, n) => publishJson(js, subject, { n }, { msgId: `${subject}:${n}:${Math.random()}` })));
    const pending = async () => {
      const info = await jsm.consumers.info(stream, 'workers');
      return { waiting: info.num_pending, unacknowledged: info.num_ack_pending };
    };
    return { stream, durable: 'workers', publish, pending };
  }

  function start(options: Omit<ConsumerLoopOptions, 'nc'>): ConsumerHandle {
    const handle = startConsumer({ nc, ...options });
    handles.push(handle);
    return handle;
  }

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: server.url, name: 'consumer-loop-spec' });
    jsm = await jetstreamManager(nc);
    js = jsm.jetstream();
  });

  afterEach(async () => {
    await Promise.all(handles.splice(0).map((handle) => handle.stop(0)));
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('never handles, nor holds, more than `concurrency` messages at once', async () => {
    const queue = await newQueue();
    await queue.publish(20);
    let active = 0;
    let maxActive = 0;
    let acked = 0;
    const blocked: (() => void)[] = [];
    start({
      ...queue,
      concurrency: 3,
      handler: async (message) => {
        maxActive = Math.max(maxActive, ++active);
        await new Promise<void>((release) => blocked.push(release));
        active -= 1;
        message.ack();
        acked += 1;
      },
    });

    // Rounds of "every handler is busy": the server must then count exactly as many messages
    // delivered-and-unacknowledged as there are busy handlers. Sampled only once the acks of
    // the previous round have reached the server (acks are fire-and-forget, so a sample taken
    // while one is in flight would count it: that made the old version of this test flaky).
    while (acked < 20) {
      const busy = Math.min(3, 20 - acked);
      await waitFor(() => blocked.length === busy);
      await waitFor(async () => {
        const { waiting, unacknowledged } = await queue.pending();
        return waiting + unacknowledged === 20 - acked;
      });
      await sleep(100); // a loop asking ahead would have been sent more by now
      expect(await queue.pending()).toEqual({ waiting: 20 - acked - busy, unacknowledged: busy });
      const released = acked + busy;
      blocked.splice(0).forEach((release) => release());
      await waitFor(() => acked === released);
    }

    expect(maxActive).toBe(3);
    await waitFor(async () => (await queue.pending()).unacknowledged === 0);
    expect(await queue.pending()).toEqual({ waiting: 0, unacknowledged: 0 });
  });

  it('asks for messages in batches: one pull request serves several free slots', async () => {
    const queue = await newQueue();
    await queue.publish(30);
    const pulls: string[] = [];
    const spy = nc.subscribe(`$JS.API.CONSUMER.MSG.NEXT.${queue.stream}.${queue.durable}`, {
      callback: (_error, msg) => {
        pulls.push(new TextDecoder().decode(msg.data));
      },
    });
    let handled = 0;
    start({
      ...queue,
      concurrency: 10,
      handler: (message) => {
        handled += 1;
        message.ack();
      },
    });
    await waitFor(() => handled === 30);
    spy.unsubscribe();
    expect(pulls.length).toBeLessThan(15);
    expect(JSON.parse(pulls[0] as string)).toMatchObject({ batch: 10 });
  });

  it('redelivers a nak(delay) after the delay, with deliveryCount 2', async () => {
    const queue = await newQueue();
    const deliveries: { count: number; at: number }[] = [];
    start({
      ...queue,
      concurrency: 1,
      handler: (message) => {
        deliveries.push({ count: message.deliveryCount, at: Date.now() });
        if (message.deliveryCount === 1) message.nak(1_000);
        else message.ack();
      },
    });
    await queue.publish(1);
    await waitFor(() => deliveries.length === 2);

    expect(deliveries.map((delivery) => delivery.count)).toEqual([1, 2]);
    const elapsed = deliveries[1].at - deliveries[0].at;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(2_500);
  });

  it('never redelivers a termed message, and reports the reason as an event', async () => {
    const queue = await newQueue({ ackWaitMs: 1_000 });
    const events: ConsumerLoopEvent[] = [];
    let deliveries = 0;
    start({
      ...queue,
      concurrency: 1,
      onEvent: (event) => events.push(event),
      handler: (message) => {
        deliveries += 1;
        message.term('poison');
      },
    });
    await queue.publish(1);
    await waitFor(() => deliveries === 1);
    // Longer than the ack wait: a term the server ignored would come back by now.
    await sleep(1_600);

    expect(deliveries).toBe(1);
    expect(await queue.pending()).toEqual({ waiting: 0, unacknowledged: 0 });
    expect(events).toContainEqual(expect.objectContaining({ type: 'terminated', reason: 'poison' }));
  });

  it('keeps a message with working() past its ack wait: delivered exactly once', async () => {
    const queue = await newQueue({ ackWaitMs: 1_000 });
    let deliveries = 0;
    let done = false;
    start({
      ...queue,
      concurrency: 1,
      handler: async (message) => {
        deliveries += 1;
        const heartbeat = setInterval(() => message.working(), 300);
        await sleep(3_000);
        clearInterval(heartbeat);
        message.ack();
        done = true;
      },
    });
    await queue.publish(1);
    await waitFor(() => done, 6_000);
    await sleep(300);

    expect(deliveries).toBe(1);
    expect(await queue.pending()).toEqual({ waiting: 0, unacknowledged: 0 });
  });

  it('naks with a delay and reports when the handler throws or forgets to settle', async () => {
    const queue = await newQueue();
    const failures: { error: unknown; deliveryCount: number }[] = [];
    start({
      ...queue,
      concurrency: 1,
      unsettledNakDelayMs: 200,
      onUnhandledError: (error, message) => failures.push({ error, deliveryCount: message.deliveryCount }),
      handler: async (message) => {
        if (message.deliveryCount === 1) throw new Error('boom');
        if (message.deliveryCount === 2) return;
        message.ack();
      },
    });
    await queue.publish(1);
    await waitFor(() => failures.length === 2);
    await waitFor(async () => (await queue.pending()).unacknowledged === 0);

    expect(failures[0]).toEqual({ error: new Error('boom'), deliveryCount: 1 });
    expect(failures[1].error).toBeInstanceOf(UnsettledMessageError);
    expect(failures[1].deliveryCount).toBe(2);
  });

  it('stop(grace) waits for an in-flight handler that finishes within the grace period', async () => {
    const queue = await newQueue();
    let finished = false;
    const handle = start({
      ...queue,
      concurrency: 2,
      handler: async (message) => {
        await sleep(500);
        message.ack();
        finished = true;
      },
    });
    await queue.publish(1);
    await waitFor(() => handle.inFlight === 1);

    const stopping = Date.now();
    await handle.stop(3_000);

    expect(finished).toBe(true);
    expect(Date.now() - stopping).toBeLessThan(1_500);
    expect(handle).toMatchObject({ running: false, inFlight: 0 });
    await waitFor(async () => (await queue.pending()).unacknowledged === 0);
  });

  it('stop(grace) naks what is still unsettled after the grace period, for another worker to take', async () => {
    const queue = await newQueue();
    let release!: () => void;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    const first = start({ ...queue, concurrency: 1, handler: () => stuck });
    await queue.publish(1);
    await waitFor(() => first.inFlight === 1);

    await first.stop(200);
    const redelivered: InboundMessage[] = [];
    start({
      ...queue,
      concurrency: 1,
      handler: (message) => {
        redelivered.push(message);
        message.ack();
      },
    });

    // Well inside the 30 s ack wait: the nak, not a timeout, gave it back.
    await waitFor(() => redelivered.length === 1, 2_000);
    expect(redelivered[0].deliveryCount).toBe(2);
    release();
  });

  it('pause() stops new deliveries while the in-flight handler finishes; resume() continues', async () => {
    const queue = await newQueue();
    const handled: number[] = [];
    const handle = start({
      ...queue,
      concurrency: 1,
      handler: async (message) => {
        await sleep(300);
        handled.push((message.data as { n: number }).n);
        message.ack();
      },
    });
    await queue.publish(1);
    await waitFor(() => handle.inFlight === 1);

    handle.pause();
    await queue.publish(2);
    await sleep(800);
    expect(handled).toEqual([0]);
    expect(handle).toMatchObject({ paused: true, running: true, inFlight: 0 });
    expect(await queue.pending()).toEqual({ waiting: 2, unacknowledged: 0 });

    handle.resume();
    await waitFor(() => handled.length === 3);
    expect(handle.paused).toBe(false);
  });

  it('does not lose a message given back while paused: it comes again after resume(), well inside the ack wait', async () => {
    const queue = await newQueue({ maxDeliver: -1 });
    const deliveries: number[] = [];
    let giveBack = true;
    const handle = start({
      ...queue,
      // Free slots: while one message is handled, a pull request for the others stays open at the server.
      concurrency: 8,
      handler: async (message) => {
        deliveries.push(message.deliveryCount);
        if (giveBack) {
          giveBack = false;
          handle.pause();
          message.nak(200);
          return;
        }
        message.ack();
      },
    });
    await queue.publish(1);
    await waitFor(() => deliveries.length === 1);
    await sleep(1_500);
    expect(handle.paused).toBe(true);
    handle.resume();
    // The ack wait is 30 s: a redelivery into a withdrawn pull request would only come back after it.
    await waitFor(() => deliveries.length >= 2, 5_000);
    // The handler's ack reaches the server a moment after the delivery: look until it has.
    await waitFor(async () => (await queue.pending()).unacknowledged === 0, 2_000);
    expect(await queue.pending()).toEqual({ waiting: 0, unacknowledged: 0 });
    expect(deliveries).toHaveLength(2);
  });

  it('keeps retrying while the consumer is missing, and stops for good when the connection closes', async () => {
    const queue = await newQueue();
    const ownConnection = await connectNats({ servers: server.url, name: 'consumer-loop-spec-closing' });
    const events: ConsumerLoopEvent[] = [];
    const missing = start({ ...queue, durable: 'nobody', concurrency: 1, handler: jest.fn(), onEvent: (event) => events.push(event) });
    const closing = startConsumer({ nc: ownConnection, ...queue, concurrency: 2, handler: jest.fn(), onEvent: (event) => events.push(event) });
    await waitFor(() => events.some((event) => event.type === 'pull_failed'));

    await ownConnection.close();
    await waitFor(() => !closing.running);

    expect(events.filter((event) => event.type === 'connection_closed')).toHaveLength(1);
    expect(missing.running).toBe(true);
  });
});
