import { ApiError, invalidRequest } from './api-error';

export type CacheTtl = '5m' | '1h';

export interface TextBlock {
  type: 'text';
  text: string;
  /** Set when the block closes a prompt-cache prefix. */
  cacheTtl?: CacheTtl;
}

export interface InputMessage {
  role: 'user' | 'assistant';
  /** String content arrives normalised to one block, so every later stage sees one shape. */
  content: TextBlock[];
}

/** The body of POST /v1/messages/count_tokens: a messages request without max_tokens. */
export interface CountTokensRequest {
  model: string;
  system: TextBlock[];
  messages: InputMessage[];
}

export interface MessagesRequest extends CountTokensRequest {
  maxTokens: number;
  stream: boolean;
}

/** The real API accepts at most this many cache_control breakpoints per request. */
const MAX_CACHE_BREAKPOINTS = 4;

// Both validators check a parsed body the way the real API does and answer with its
// messages (`<field path>: <problem>`), so the SDK's BadRequestError reads the same.
// Fields the simulator does not use (metadata, stop_sequences, ...) are let through.

export function validateMessagesRequest(body: unknown): MessagesRequest {
  const record = asObject(body);
  const maxTokens = record['max_tokens'];
  if (maxTokens === undefined) throw invalidRequest('max_tokens: Field required');
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens)) throw invalidRequest('max_tokens: Input should be a valid integer');
  if (maxTokens < 1) throw invalidRequest('max_tokens: Input should be greater than or equal to 1');
  const stream = record['stream'] ?? false;
  if (typeof stream !== 'boolean') throw invalidRequest('stream: Input should be a valid boolean');
  return { ...validateCountTokensRequest(record), maxTokens, stream };
}

export function validateCountTokensRequest(body: unknown): CountTokensRequest {
  const record = asObject(body);
  if (record['model'] === undefined) throw invalidRequest('model: Field required');
  if (typeof record['model'] !== 'string' || record['model'] === '') throw invalidRequest('model: Input should be a valid string');
  const model = record['model'];

  const system = record['system'] === undefined ? [] : readContent(record['system'], 'system', true);

  const rawMessages = record['messages'];
  if (rawMessages === undefined) throw invalidRequest('messages: Field required');
  if (!Array.isArray(rawMessages)) throw invalidRequest('messages: Input should be a valid list');
  if (rawMessages.length === 0) throw invalidRequest('messages: at least one message is required');
  const messages = rawMessages.map((message, index) => readMessage(message, `messages.${index}`));

  const breakpoints = [...system, ...messages.flatMap((message) => message.content)].filter((block) => block.cacheTtl).length;
  if (breakpoints > MAX_CACHE_BREAKPOINTS) {
    throw invalidRequest(`A maximum of ${MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found ${breakpoints}.`);
  }

  if (!model.startsWith('claude-')) throw new ApiError(404, 'not_found_error', `model: ${model}`);
  return { model, system, messages };
}

function asObject(body: unknown): Record<string, unknown> {
  if (!isRecord(body)) throw invalidRequest('request body: Input should be a valid JSON object');
  return body;
}

function readMessage(value: unknown, path: string): InputMessage {
  if (!isRecord(value)) throw invalidRequest(`${path}: Input should be a valid dictionary`);
  const role = value['role'];
  if (role !== 'user' && role !== 'assistant') throw invalidRequest(`${path}.role: Input should be 'user' or 'assistant'`);
  if (value['content'] === undefined) throw invalidRequest(`${path}.content: Field required`);
  return { role, content: readContent(value['content'], `${path}.content`, false) };
}

function readContent(value: unknown, path: string, emptyAllowed: boolean): TextBlock[] {
  if (typeof value === 'string') {
    if (value === '' && !emptyAllowed) throw invalidRequest(`${path}: must be non-empty`);
    return value === '' ? [] : [{ type: 'text', text: value }];
  }
  if (!Array.isArray(value)) throw invalidRequest(`${path}: Input should be a valid string or a list of content blocks`);
  if (value.length === 0 && !emptyAllowed) throw invalidRequest(`${path}: must be non-empty`);
  return value.map((block, index) => readTextBlock(block, `${path}.${index}`));
}

function readTextBlock(value: unknown, path: string): TextBlock {
  if (!isRecord(value)) throw invalidRequest(`${path}: Input should be a valid dictionary`);
  if (value['type'] !== 'text') throw invalidRequest(`${path}.type: Input should be 'text'`);
  const text = value['text'];
  if (typeof text !== 'string') throw invalidRequest(`${path}.text: Input should be a valid string`);
  if (text === '') throw invalidRequest(`${path}.text: text content blocks must be non-empty`);
  const cacheControl = value['cache_control'];
  if (cacheControl === undefined || cacheControl === null) return { type: 'text', text };
  return { type: 'text', text, cacheTtl: readCacheTtl(cacheControl, `${path}.cache_control`) };
}

function readCacheTtl(value: unknown, path: string): CacheTtl {
  if (!isRecord(value) || value['type'] !== 'ephemeral') throw invalidRequest(`${path}.type: Input should be 'ephemeral'`);
  const ttl = value['ttl'] ?? '5m';
  if (ttl !== '5m' && ttl !== '1h') throw invalidRequest(`${path}.ttl: Input should be '5m' or '1h'`);
  return ttl;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
