import type { CacheUsage } from './prompt-cache';

export type StopReason = 'end_turn' | 'max_tokens';

export interface MessageUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
  service_tier: 'standard';
}

/** The Message object as the API returns it (fields the simulator never fills are null). */
export interface SimulatedMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: Array<{ type: 'text'; text: string }>;
  stop_reason: StopReason;
  stop_sequence: null;
  stop_details: null;
  container: null;
  usage: MessageUsage;
}

export function buildUsage(inputTokens: number, outputTokens: number, cache: CacheUsage): MessageUsage {
  return {
    // The API reports only the uncached part as input_tokens; the three together are the prompt.
    input_tokens: inputTokens - cache.creationTokens - cache.readTokens,
    output_tokens: outputTokens,
    cache_creation_input_tokens: cache.creationTokens,
    cache_read_input_tokens: cache.readTokens,
    cache_creation: { ephemeral_5m_input_tokens: cache.creation5mTokens, ephemeral_1h_input_tokens: cache.creation1hTokens },
    service_tier: 'standard',
  };
}

export function buildMessage(fields: { id: string; model: string; text: string; stopReason: StopReason; usage: MessageUsage }): SimulatedMessage {
  return {
    id: fields.id,
    type: 'message',
    role: 'assistant',
    model: fields.model,
    content: [{ type: 'text', text: fields.text }],
    stop_reason: fields.stopReason,
    stop_sequence: null,
    stop_details: null,
    container: null,
    usage: fields.usage,
  };
}
