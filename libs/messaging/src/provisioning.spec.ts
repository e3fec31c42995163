import { allConsumers, CONSUMERS, type ConsumerSpec, STREAMS, type StreamSpec } from '@atelier/contracts';
import { startNatsServer, type NatsTestServer } from '@atelier/testing';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, nanos } from '@nats-io/transport-node';
import { ProvisioningError } from './messaging-errors';
import { connectNats } from './nats-connection';
import { ensureConsumers, ensureStreams } from './provisioning';

describe('provisioning', () => {
  let server: NatsTestServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: server.url, name: 'provisioning-spec' });
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  afterEach(() => jest.restoreAllMocks());

  describe(ensureStreams.name, () => {
    it('creates file-backed streams with the retention, max age and duplicate window asked for', async () => {
      await ensureStreams(jsm, Object.values(STREAMS));

      const events = (await jsm.streams.info(STREAMS.taskEvents.stream)).config;
      expect(events).toMatchObject({ retention: 'limits', storage: 'file', max_age: nanos(60 * 60 * 1000), duplicate_window: nanos(120_000) });
      const research = (await jsm.streams.info(STREAMS.research.stream)).config;
      expect(research).toMatchObject({ subjects: ['agent.research.steps'], retention: 'workqueue', storage: 'file', max_age: 0 });
    });

    it('is idempotent and applies a changed spec by update', async () => {
      const spec: StreamSpec = { stream: 'IDEMPOTENT', subjects: ['idempotent.>'], retention: 'limits', maxAgeMs: 60_000 };
      await ensureStreams(jsm, [spec]);
      const update = jest.spyOn(jsm.streams, 'update');
      const add = jest.spyOn(jsm.streams, 'add');

      await ensureStreams(jsm, [spec]);
      expect(update).not.toHaveBeenCalled();
      expect(add).not.toHaveBeenCalled();

      await ensureStreams(jsm, [{ ...spec, maxAgeMs: 90_000 }]);
      expect(update).toHaveBeenCalledTimes(1);
      expect((await jsm.streams.info('IDEMPOTENT')).config).toMatchObject({ max_age: nanos(90_000), duplicate_window: nanos(90_000) });
    });

    it('wraps server refusals in a ProvisioningError naming the stream', async () => {
      const clash: StreamSpec = { stream: 'CLASH', subjects: ['agent.research.steps'], retention: 'workqueue' };
      await expect(ensureStreams(jsm, [clash])).rejects.toThrow(ProvisioningError);
      await expect(ensureStreams(jsm, [clash])).rejects.toThrow(/^stream CLASH: /);
    });
  });

  describe(ensureConsumers.name, () => {
    // Workqueue streams allow one consumer per subject, hence a subject per test consumer.
    const testConsumer = (name: string, overrides: Partial<ConsumerSpec> = {}): ConsumerSpec => ({
      ...CONSUMERS.writer,
      maxDeliver: 5,
      backoffMs: [1_000, 5_000, 15_000, 30_000],
      stream: 'CONSUMER_TESTS',
      durable: name,
      filterSubject: `consumer-tests.${name}`,
      ...overrides,
    });

    beforeAll(() =>
      ensureStreams(jsm, [...Object.values(STREAMS), { stream: 'CONSUMER_TESTS', subjects: ['consumer-tests.>'], retention: 'workqueue' }]),
    );

    it('accepts the real topology on this server: no broker delivery bound, the step ack wait from the environment', async () => {
      await ensureConsumers(jsm, allConsumers(12_000));
      const research = await jsm.consumers.info(CONSUMERS.research.stream, CONSUMERS.research.durable);
      expect(research.config).toMatchObject({ ack_policy: 'explicit', max_deliver: -1, ack_wait: nanos(12_000), filter_subject: 'agent.research.steps' });
      expect(research.config.backoff).toBeUndefined();
      const results = await jsm.consumers.info(CONSUMERS.stepResults.stream, CONSUMERS.stepResults.durable);
      expect(results.config).toMatchObject({ max_deliver: -1, ack_wait: nanos(CONSUMERS.stepResults.ackWaitMs) });
    });

    it('translates backoff delays into server deadlines: each is the ack wait plus the delay', async () => {
      const spec = testConsumer('backoff');
      await ensureConsumers(jsm, [spec]);
      const { config } = await jsm.consumers.info(spec.stream, spec.durable);
      // backoff replaces ack_wait on the server, so each deadline is the ack wait plus the spec's delay.
      expect(config.backoff).toEqual([31_000, 35_000, 45_000, 60_000].map(nanos));
      expect(config.ack_wait).toBe(nanos(31_000));
    });

    it('is idempotent and applies a changed max_deliver by update', async () => {
      const spec = testConsumer('idempotent');
      await ensureConsumers(jsm, [spec]);
      const update = jest.spyOn(jsm.consumers, 'update');
      const add = jest.spyOn(jsm.consumers, 'add');

      await ensureConsumers(jsm, [spec]);
      expect(update).not.toHaveBeenCalled();
      expect(add).not.toHaveBeenCalled();

      await ensureConsumers(jsm, [{ ...spec, maxDeliver: 8 }]);
      expect(update).toHaveBeenCalledTimes(1);
      expect((await jsm.consumers.info(spec.stream, spec.durable)).config.max_deliver).toBe(8);
    });

    it('uses ack_wait as is when there is no backoff, and can drop a backoff again', async () => {
      const spec = testConsumer('no-backoff', { backoffMs: [] });
      await ensureConsumers(jsm, [{ ...spec, backoffMs: [500] }]);
      await ensureConsumers(jsm, [spec]);
      const { config } = await jsm.consumers.info(spec.stream, spec.durable);
      expect(config.ack_wait).toBe(nanos(30_000));
      expect(config.backoff).toBeUndefined();
    });

    it('refuses more backoff delays than redeliveries before asking the server', async () => {
      const spec = testConsumer('too-much-backoff', { maxDeliver: 4 });
      await expect(ensureConsumers(jsm, [spec])).rejects.toThrow(/maxDeliver \(4\) must be greater than the number of backoff delays \(4\)/);
    });
  });
});
