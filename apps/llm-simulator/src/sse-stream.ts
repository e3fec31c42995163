import type { ServerResponse } from 'node:http';
import { delay } from './delay';
import type { SimulatedMessage } from './message-response';
import { countTextTokens } from './token-count';

export interface StreamOptions {
  headers: Record<string, string>;
  /** Delay per output token, spread over the deltas as they are sent. */
  perTokenMs: number;
  /** The stream-cut fault: break the connection after message_start and about half the deltas. */
  cut: boolean;
  /** Aborted when the client goes away; the stream stops writing. */
  signal: AbortSignal;
}

const WORDS_PER_DELTA = 4;

/** Sends `message` as the API's event sequence, one `event:`/`data:` frame per event. */
export async function writeMessageStream(response: ServerResponse, message: SimulatedMessage, options: StreamOptions): Promise<void> {
  response.writeHead(200, { ...options.headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  const send = (type: string, data: object = {}) => write(response, `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  const { usage } = message;

  // The opening snapshot has no content and no stop reason yet; output is counted as it goes.
  await send('message_start', { message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } } });
  await send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  await send('ping');

  const chunks = textChunks(message.content.map((block) => block.text).join(''));
  const cutAfter = Math.max(1, Math.ceil(chunks.length / 2));
  for (const [index, text] of chunks.entries()) {
    await delay(options.perTokenMs * countTextTokens(text), options.signal);
    if (options.signal.aborted) return;
    await send('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
    if (options.cut && index + 1 >= cutAfter) {
      response.destroy();
      return;
    }
  }
  if (options.signal.aborted) return;

  await send('content_block_stop', { index: 0 });
  await send('message_delta', {
    delta: { stop_reason: message.stop_reason, stop_sequence: null, stop_details: null },
    usage: {
      input_tokens: usage.input_tokens,
      output_tokens: usage.output_tokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens,
    },
  });
  await send('message_stop');
  response.end();
}

/** Splits text into deltas of a few words each; joined, they give back `text` exactly. */
export function textChunks(text: string): string[] {
  const words = text.match(/\s*\S+\s*/g) ?? [text];
  const chunks: string[] = [];
  for (let index = 0; index < words.length; index += WORDS_PER_DELTA) chunks.push(words.slice(index, index + WORDS_PER_DELTA).join(''));
  return chunks;
}

/** Resolves once the frame is flushed to the socket (or the socket is gone), so a cut happens after what was sent. */
function write(response: ServerResponse, frame: string): Promise<void> {
  return new Promise((resolve) => {
    if (response.destroyed) resolve();
    else response.write(frame, () => resolve());
  });
}
