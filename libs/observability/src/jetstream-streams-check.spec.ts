import { type NatsTestServer, startNatsServer } from '@atelier/testing';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetStreamStreamsCheck } from './jetstream-streams-check';

describe(jetStreamStreamsCheck.name, () => {
  let server: NatsTestServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'AGENT_RESEARCH', subjects: ['agent.research.steps'] });
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('is ready when every stream exists', async () => {
    await expect(jetStreamStreamsCheck(() => jsm, ['AGENT_RESEARCH']).isReady()).resolves.toBeUndefined();
  });

  it('names the missing streams', async () => {
    const check = jetStreamStreamsCheck(() => jsm, ['AGENT_RESEARCH', 'STEP_RESULTS', 'TASK_EVENTS']);
    expect(check.name).toBe('jetstream-streams');
    await expect(check.isReady()).rejects.toThrow('JetStream streams missing: STEP_RESULTS, TASK_EVENTS');
  });

  it('says when the streams cannot be checked at all', async () => {
    const broken = { streams: { info: () => Promise.reject(new Error('TIMEOUT')) } };
    await expect(jetStreamStreamsCheck(() => broken, ['AGENT_RESEARCH']).isReady()).rejects.toThrow('JetStream streams could not be checked: AGENT_RESEARCH: TIMEOUT');
  });
});
