import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError, invalidRequest } from './api-error';
import type { SimulatorBehaviour } from './config';
import { delay } from './delay';
import { FaultQueue, FaultSchedule, chooseFault, errorForFault, parseScriptedFault, type FaultDecision } from './faults';
import { type ResponseHeaders, newSimulatorId, readBody, sendError, sendJson } from './http-io';
import { buildMessage, buildUsage } from './message-response';
import { PromptCache } from './prompt-cache';
import { readDirectiveOverrides, readHeaderOverrides, type RequestOverrides } from './request-overrides';
import { type CountTokensRequest, validateCountTokensRequest, validateMessagesRequest } from './request-validation';
import { shapeReply } from './reply-shaping';
import { SimulatorStats } from './simulator-stats';
import { writeMessageStream } from './sse-stream';
import { countInputTokens, countTextTokens, truncateToTokens } from './token-count';

export interface SimulatorServerOptions extends Partial<SimulatorBehaviour> {
  /** Larger bodies get 413 request_too_large, as from the real API (32 MB). */
  maxBodyBytes?: number;
  /** The clock prompt-cache TTLs are measured with. */
  now?: () => number;
  /** Receives errors the simulator did not expect (answered as 500 api_error). */
  onUnexpectedError?: (error: unknown) => void;
}

export interface SimulatorServer {
  /** Port 0 (the default) picks a free port; the answer says which. */
  listen(port?: number, host?: string): Promise<{ url: string; port: number }>;
  /** Stops listening and drops open connections, hung ones included. */
  close(): Promise<void>;
}

/** One request and its answer in progress. */
interface Exchange {
  request: IncomingMessage;
  response: ServerResponse;
  headers: ResponseHeaders;
  /** Aborted when the client goes away before the answer is done: pending delays stop. */
  signal: AbortSignal;
}

const DEFAULT_BEHAVIOUR: SimulatorBehaviour = { latencyMs: 0, latencyPerTokenMs: 0, faultRate: 1, retryAfterSeconds: 2, hangMs: 600_000 };
const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** The Messages API look-alike, usable in-process (tests) or from main.ts. */
export function createSimulatorServer(options: SimulatorServerOptions = {}): SimulatorServer {
  const { maxBodyBytes = MAX_BODY_BYTES, now = Date.now, onUnexpectedError, ...overrides } = options;
  const behaviour: SimulatorBehaviour = { ...DEFAULT_BEHAVIOUR, ...overrides };
  const stats = new SimulatorStats();
  const scripted = new FaultQueue();
  const schedule = new FaultSchedule(behaviour.faultRate);
  const promptCache = new PromptCache(now);

  const server = createServer((request, response) => {
    const headers: ResponseHeaders = { 'request-id': newSimulatorId('req_sim') };
    const client = new AbortController();
    // Only a client gone before the answer ended has anything to stop; aborting after every
    // answer built an AbortError (with its stack) per request, 10 % of the simulator's CPU.
    response.on('close', () => response.writableFinished || client.abort());
    route({ request, response, headers, signal: client.signal }).catch((error: unknown) => {
      if (!(error instanceof ApiError)) onUnexpectedError?.(error);
      const answer = error instanceof ApiError ? error : new ApiError(500, 'api_error', 'Internal server error');
      if (!response.headersSent) sendError(response, answer, headers);
      else response.destroy();
    });
  });

  async function route(exchange: Exchange): Promise<void> {
    const { request, response, headers } = exchange;
    const path = new URL(request.url ?? '/', 'http://simulator').pathname;
    if (path.startsWith('/v1/')) stats.requests += 1;
    switch (`${request.method} ${path}`) {
      case 'GET /health':
        return sendJson(response, 200, { ok: true }, headers);
      case 'POST /v1/messages':
        return answerMessages(exchange);
      case 'POST /v1/messages/count_tokens':
        return answerCountTokens(exchange);
      case 'GET /_sim/stats':
        return sendJson(response, 200, stats, headers);
      case 'POST /_sim/faults':
        scripted.enqueue(parseScriptedFault(parseJson(await readBody(request, maxBodyBytes))));
        return sendJson(response, 200, { queued: scripted.pending }, headers);
      case 'DELETE /_sim/faults':
        scripted.clear();
        return sendJson(response, 200, { queued: 0 }, headers);
      case 'POST /_sim/reset':
        stats.reset();
        scripted.clear();
        schedule.reset();
        promptCache.clear();
        return sendJson(response, 200, { ok: true }, headers);
      default:
        throw new ApiError(404, 'not_found_error', `Not found: ${request.method} ${path}`);
    }
  }

  async function answerMessages(exchange: Exchange): Promise<void> {
    stats.messages += 1;
    const { raw, body, fromHeaders } = await receive(exchange.request, validateMessagesRequest);
    stats.countModel(body.model);
    const fromText = readDirectiveOverrides(body);
    const fault = chooseFault({
      scripted: scripted.take(raw),
      header: fromHeaders.fault,
      directive: fromText.fault,
      env: () => (behaviour.fault && schedule.next() ? behaviour.fault : undefined),
    });
    const latencyMs = fromHeaders.latencyMs ?? fromText.latencyMs ?? behaviour.latencyMs;
    if (await delayOrBreak(exchange, latencyMs, fault, fromHeaders)) return;

    const reply = truncateToTokens(shapeReply(body), body.maxTokens);
    // The API never reports zero output tokens, even for an empty reply.
    const outputTokens = Math.max(1, countTextTokens(reply.text));
    const message = buildMessage({
      id: newSimulatorId('msg_sim'),
      model: body.model,
      text: reply.text,
      stopReason: reply.truncated ? 'max_tokens' : 'end_turn',
      usage: buildUsage(countInputTokens(body), outputTokens, promptCache.apply(body)),
    });
    const cut = fault?.kind === 'stream-cut';
    const { response, headers, signal } = exchange;
    if (body.stream) return writeMessageStream(response, message, { headers, perTokenMs: behaviour.latencyPerTokenMs, cut, signal });
    await delay(behaviour.latencyPerTokenMs * outputTokens, signal);
    if (!signal.aborted) sendJsonOrCut(response, message, headers, cut);
  }

  /** count_tokens is not a model call: only a test's explicit header or script steers it. */
  async function answerCountTokens(exchange: Exchange): Promise<void> {
    stats.countTokens += 1;
    const { raw, body, fromHeaders } = await receive(exchange.request, validateCountTokensRequest);
    const fault = chooseFault({ scripted: scripted.take(raw), header: fromHeaders.fault });
    if (await delayOrBreak(exchange, fromHeaders.latencyMs ?? 0, fault, fromHeaders)) return;
    sendJsonOrCut(exchange.response, { input_tokens: countInputTokens(body) }, exchange.headers, fault?.kind === 'stream-cut');
  }

  /** Checks the key before reading anything, as the real API does, then validates the body. */
  async function receive<T extends CountTokensRequest>(request: IncomingMessage, validate: (json: unknown) => T) {
    authenticate(request.headers);
    const raw = await readBody(request, maxBodyBytes);
    const body = validate(parseJson(raw));
    return { raw, body, fromHeaders: readHeaderOverrides(request.headers) };
  }

  /**
   * Waits the latency, then applies any fault but stream-cut (which needs an answer to
   * cut). True when the exchange is over: a fault answered it or the client left.
   */
  async function delayOrBreak(exchange: Exchange, latencyMs: number, fault: FaultDecision | undefined, fromHeaders: RequestOverrides): Promise<boolean> {
    const { request, response, headers, signal } = exchange;
    if (fault) stats.faultsInjected += 1;
    await delay(latencyMs, signal);
    if (signal.aborted) return true;
    if (!fault) return false;
    const error = errorForFault(fault.kind);
    if (error) {
      const retryAfter = fault.retryAfterSeconds ?? fromHeaders.retryAfterSeconds ?? behaviour.retryAfterSeconds;
      sendError(response, error, fault.kind === '429' ? { ...headers, 'retry-after': String(retryAfter) } : headers);
      return true;
    }
    if (fault.kind === 'reset') {
      request.socket.destroy();
      return true;
    }
    if (fault.kind === 'hang') {
      await delay(behaviour.hangMs, signal);
      response.destroy();
      return true;
    }
    return false;
  }

  return {
    listen: (port = 0, host = '127.0.0.1') =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const bound = (server.address() as AddressInfo).port;
          resolve({ url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`, port: bound });
        });
      }),
    close: () =>
      new Promise((resolve, reject) => {
        if (!server.listening) return resolve();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** Either x-api-key or a Bearer token (what SDK 1.12 sends); any non-empty value is accepted and never echoed. */
function authenticate(headers: IncomingHttpHeaders): void {
  const apiKey = headers['x-api-key'];
  const bearer = /^Bearer\s+\S/i.test(headers.authorization ?? '');
  if ((typeof apiKey !== 'string' || apiKey.trim() === '') && !bearer) {
    throw new ApiError(401, 'authentication_error', 'x-api-key header or Authorization: Bearer token is required');
  }
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw invalidRequest('request body: Input should be valid JSON');
  }
}

/** The stream-cut fault on a JSON answer: headers and half the body, then the connection drops. */
function sendJsonOrCut(response: ServerResponse, body: unknown, headers: ResponseHeaders, cut: boolean): void {
  if (!cut) return sendJson(response, 200, body, headers);
  const payload = Buffer.from(JSON.stringify(body));
  response.writeHead(200, { ...headers, 'content-type': 'application/json', 'content-length': payload.length });
  response.write(payload.subarray(0, Math.floor(payload.length / 2)), () => response.destroy());
}
