import type { ConsumerSpec, StreamSpec } from '@atelier/contracts';
import {
  AckPolicy,
  type ConsumerConfig,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { isDeepStrictEqual } from 'node:util';
import { ProvisioningError } from './messaging-errors';

/** How long JetStream remembers a Nats-Msg-Id; a re-publish within it is dropped as a duplicate. */
const DUPLICATE_WINDOW_MS = 2 * 60 * 1000;

type DesiredStream = Pick<StreamConfig, 'name' | 'subjects' | 'retention' | 'storage' | 'max_age' | 'duplicate_window'>;
type DesiredConsumer = Pick<ConsumerConfig, 'durable_name' | 'ack_policy' | 'ack_wait' | 'max_deliver' | 'filter_subject'> & {
  backoff: ConsumerConfig['backoff'];
};

/** Creates missing streams and updates those whose config drifted from the spec. Safe to run on every start. */
export async function ensureStreams(jsm: JetStreamManager, specs: readonly StreamSpec[]): Promise<void> {
  for (const spec of specs) {
    const desired = streamConfig(spec);
    try {
      const current = await findStream(jsm, spec.stream);
      if (!current) await jsm.streams.add(desired);
      else if (differs(desired, current)) await jsm.streams.update(spec.stream, desired);
    } catch (error) {
      throw new ProvisioningError(`stream ${spec.stream}: ${(error as Error).message}`, { cause: error });
    }
  }
}

/** Creates missing durable pull consumers and updates those whose config drifted from the spec. */
export async function ensureConsumers(jsm: JetStreamManager, specs: readonly ConsumerSpec[]): Promise<void> {
  for (const spec of specs) {
    const desired = consumerConfig(spec);
    try {
      const current = await findConsumer(jsm, spec.stream, spec.durable);
      if (!current) await jsm.consumers.add(spec.stream, desired);
      else if (differs(desired, current)) await jsm.consumers.update(spec.stream, spec.durable, desired);
    } catch (error) {
      throw new ProvisioningError(`consumer ${spec.stream}/${spec.durable}: ${(error as Error).message}`, { cause: error });
    }
  }
}

function streamConfig(spec: StreamSpec): DesiredStream {
  const maxAgeMs = spec.retention === 'limits' ? (spec.maxAgeMs ?? 0) : 0;
  return {
    name: spec.stream,
    subjects: [...spec.subjects],
    retention: spec.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(maxAgeMs),
    // The server refuses a duplicate window longer than max_age.
    duplicate_window: nanos(maxAgeMs > 0 ? Math.min(DUPLICATE_WINDOW_MS, maxAgeMs) : DUPLICATE_WINDOW_MS),
  };
}

/**
 * JetStream's `backoff` is not a list of pauses between attempts: entry n is the ack
 * deadline of delivery n+1, and when present it REPLACES `ack_wait` (the server stores
 * backoff[0] as ack_wait). Passing the spec's [1 s, 5 s, ...] as-is would give a 30 s
 * step one second before it is redelivered. So each deadline is the ack wait plus the
 * spec's delay for that attempt: a silent worker's message comes back after
 * ackWaitMs + backoffMs[n], and `ack_wait` is never shorter than the spec says.
 */
function consumerConfig(spec: ConsumerSpec): DesiredConsumer {
  if (spec.backoffMs.length > 0 && spec.maxDeliver <= spec.backoffMs.length) {
    // The server's rule, checked here to fail with the spec's own names.
    throw new ProvisioningError(
      `consumer ${spec.stream}/${spec.durable}: maxDeliver (${spec.maxDeliver}) must be greater than the number of backoff delays (${spec.backoffMs.length})`,
    );
  }
  const backoff = spec.backoffMs.length > 0 ? spec.backoffMs.map((delayMs) => nanos(spec.ackWaitMs + delayMs)) : undefined;
  return {
    durable_name: spec.durable,
    // `consumers.add` has no client-side default: without this the server picks `none`.
    ack_policy: AckPolicy.Explicit,
    ack_wait: backoff?.[0] ?? nanos(spec.ackWaitMs),
    max_deliver: spec.maxDeliver,
    backoff,
    filter_subject: spec.filterSubject,
  };
}

async function findStream(jsm: JetStreamManager, name: string): Promise<StreamConfig | undefined> {
  try {
    return (await jsm.streams.info(name)).config;
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return undefined;
    throw error;
  }
}

async function findConsumer(jsm: JetStreamManager, stream: string, durable: string): Promise<ConsumerConfig | undefined> {
  try {
    return (await jsm.consumers.info(stream, durable)).config;
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound) return undefined;
    throw error;
  }
}

/** Only the fields we manage count: the server fills in many defaults of its own. */
function differs(desired: object, current: object): boolean {
  return Object.entries(desired).some(([key, value]) => !isDeepStrictEqual(value, (current as Record<string, unknown>)[key]));
}
