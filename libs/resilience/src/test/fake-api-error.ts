/** Shaped like the Anthropic SDK's APIError (status, headers, the envelope's `type`), for policy tests without a network. */
export function apiError(status: number, headers: Record<string, string> = {}, type?: string): Error {
  return Object.assign(new Error(`${status} from the API`), { status, headers: new Headers(headers), ...(type ? { type } : {}) });
}

/** What the SDK throws when its request signal aborts. */
export function userAbortError(): Error {
  return Object.assign(new Error('Request was aborted.'), { name: 'APIUserAbortError' });
}

/** A model call that never answers until its signal aborts, as the SDK behaves on a hung connection. */
export function hangUntilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(userAbortError());
    signal.addEventListener('abort', () => reject(userAbortError()), { once: true });
  });
}
