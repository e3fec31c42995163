import { timeout, TimeoutStrategy } from 'cockatiel';
import { AttemptTimeoutError } from './resilience-errors';

/**
 * Runs one attempt with a time limit. Cooperative (cockatiel): `fn` gets a signal that
 * aborts at the limit or when `signal` does, and the attempt is awaited until it settles,
 * so it can still record its outcome (the ledger) before the next one starts. A timeout
 * comes out as `AttemptTimeoutError`; the caller's own abort as whatever `fn` threw.
 */
export async function withAttemptTimeout<T>(
  model: string,
  timeoutMs: number,
  signal: AbortSignal,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  // Not aborted once `fn` has settled: nothing of it is left to stop, and an abort builds an
  // AbortError with its stack for every model attempt (2 % of an agent's CPU under load).
  const policy = timeout(timeoutMs, { strategy: TimeoutStrategy.Cooperative, abortOnReturn: false });
  // onTimeout also fires when `signal` aborts; that case is told apart below.
  let limitReached = false;
  const listener = policy.onTimeout(() => {
    limitReached = true;
  });
  try {
    return await policy.execute(({ signal: inner }) => fn(inner), signal);
  } catch (error) {
    if (limitReached && !signal.aborted) throw new AttemptTimeoutError(model, timeoutMs, { cause: error });
    throw error;
  } finally {
    listener.dispose();
  }
}
