import type { ReadinessCheck } from './readiness-check';

/** What the check needs of a JetStreamManager (`jsm.streams.info`), by shape: this leaf library imports no NATS client. */
export interface StreamInfoSource {
  readonly streams: { info(stream: string): Promise<unknown> };
}

/**
 * Readiness: every stream the service publishes to or consumes from exists. A stream
 * deleted by hand (or a JetStream that lost its storage) makes the pod unready with a
 * message naming the missing streams.
 */
export function jetStreamStreamsCheck(jsm: () => StreamInfoSource, streams: readonly string[], name = 'jetstream-streams'): ReadinessCheck {
  return {
    name,
    async isReady() {
      const results = await Promise.allSettled(streams.map((stream) => jsm().streams.info(stream)));
      const missing: string[] = [];
      const failures: string[] = [];
      results.forEach((result, index) => {
        if (result.status === 'fulfilled') return;
        const stream = streams[index] ?? '?';
        if (isStreamNotFound(result.reason)) missing.push(stream);
        else failures.push(`${stream}: ${(result.reason as Error)?.message ?? String(result.reason)}`);
      });
      if (missing.length > 0) throw new Error(`JetStream streams missing: ${missing.join(', ')}`);
      if (failures.length > 0) throw new Error(`JetStream streams could not be checked: ${failures.join('; ')}`);
    },
  };
}

/** JetStream's "stream not found" (API error code 10059), whatever the client's error class. */
function isStreamNotFound(error: unknown): boolean {
  const candidate = error as { name?: unknown; code?: unknown; api_error?: { err_code?: unknown }; message?: unknown };
  return (
    candidate?.name === 'StreamNotFoundError' ||
    candidate?.api_error?.err_code === 10059 ||
    (typeof candidate?.message === 'string' && /stream not found/i.test(candidate.message))
  );
}
