import type { JetStreamManager } from '@nats-io/jetstream';

/**
 * Work not yet done by a consumer: messages waiting to be delivered plus those delivered
 * but not acknowledged. This is the number the autoscaler sizes workers by.
 */
export async function queueDepth(jsm: JetStreamManager, stream: string, durable: string): Promise<number> {
  const info = await jsm.consumers.info(stream, durable);
  return info.num_pending + info.num_ack_pending;
}
