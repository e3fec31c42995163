import { Writable } from 'node:stream';
import { createLogger } from '../logger';

/** A logger writing into memory: every JSON line parsed, and the raw text to search for leaks. */
export function captureLogs(service = 'test') {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      raw.push(chunk.toString());
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { lines, text: () => raw.join(''), logger: createLogger({ service, destination, level: 'trace' }) };
}
