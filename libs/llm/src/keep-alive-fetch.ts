import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';

/** Statuses whose response may not carry a body (the Response constructor refuses one). */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);
/**
 * How long a socket may sit idle in the pool: the built-in fetch's (undici's) default. Node
 * closes an idle socket 1 s before the keep-alive timeout a server announces (`Keep-Alive:
 * timeout=5`), but only when the agent has a timeout of its own. Without one, idle sockets
 * stayed until the server closed them, and a request that took such a socket while its
 * close was still unread failed with ECONNRESET ("socket hang up"): a connection failure
 * that counts against the model's circuit breaker, though the provider is fine. In-flight
 * requests are not cut by it: on a busy socket Node only reports the inactivity.
 */
const IDLE_SOCKET_MS = 4_000;

/**
 * A `fetch` for the Anthropic SDK over node:http(s) with keep-alive agents. Same contract
 * for what the SDK uses (method, headers, string or byte body, AbortSignal, streamed
 * response), at about half the CPU per call of the built-in fetch (undici):
 * bench/RESULTS.md. Anything else (FormData or stream bodies) goes to the built-in fetch.
 */
export function createKeepAliveFetch(options: { maxSockets?: number } = {}): typeof fetch {
  const agents = {
    'http:': new HttpAgent({ keepAlive: true, maxSockets: options.maxSockets ?? 256, timeout: IDLE_SOCKET_MS }),
    'https:': new HttpsAgent({ keepAlive: true, maxSockets: options.maxSockets ?? 256, timeout: IDLE_SOCKET_MS }),
  };
  return (input, init = {}) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const body = init.body;
    const plainBody = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
    const agent = agents[url.protocol as keyof typeof agents];
    const isRequest = typeof input === 'object' && !(input instanceof URL);
    if (!agent || !plainBody || isRequest) return fetch(input, init);
    return new Promise<Response>((resolve, reject) => {
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, name) => (headers[name] = value));
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const request = send(
        url,
        { method: init.method ?? 'GET', agent, headers, ...(init.signal ? { signal: init.signal } : {}) },
        (response: IncomingMessage) => resolve(toResponse(response)),
      );
      request.on('error', reject);
      request.end(body ?? undefined);
    });
  };
}

function toResponse(response: IncomingMessage): Response {
  const headers = new Headers();
  for (let i = 0; i < response.rawHeaders.length; i += 2) headers.append(response.rawHeaders[i] as string, response.rawHeaders[i + 1] as string);
  const status = response.statusCode ?? 500;
  if (NULL_BODY_STATUSES.has(status)) {
    response.resume();
    return new Response(null, { status, statusText: response.statusMessage, headers });
  }
  return new Response(Readable.toWeb(response) as ReadableStream, { status, statusText: response.statusMessage, headers });
}
