import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, errorBody } from './api-error';

/** Headers every answer carries; the request id is in error bodies too. */
export type ResponseHeaders = { 'request-id': string } & Record<string, string>;

/**
 * `<prefix>_` and 24 random hex digits, as the API's ids look. From randomUUID, which draws
 * its randomness in bulk: randomBytes per id was 6 % of the simulator's CPU under load.
 */
export function newSimulatorId(prefix: 'req_sim' | 'msg_sim'): string {
  return `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
}

/** Reads the whole body, refusing more than `limit` bytes with the API's 413. */
export function readBody(request: IncomingMessage, limit: number): Promise<string> {
  const tooLarge = () => new ApiError(413, 'request_too_large', `Request exceeds the maximum allowed number of bytes (${limit}).`);
  const declared = Number(request.headers['content-length']);
  if (declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.removeAllListeners('data');
        request.pause();
        reject(tooLarge());
      } else {
        chunks.push(chunk);
      }
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: ResponseHeaders): void {
  const payload = JSON.stringify(body);
  response.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  response.end(payload);
}

export function sendError(response: ServerResponse, error: ApiError, headers: ResponseHeaders): void {
  // A body the client never finished sending cannot be drained on a kept-alive socket.
  const close: Record<string, string> = error.status === 413 ? { connection: 'close' } : {};
  sendJson(response, error.status, errorBody(error, headers['request-id']), { ...headers, ...close });
}
