import { Problem } from './problem';

/** A position in a newest-first listing ordered by (timestamp, id): opaque to clients. */
export interface KeysetCursor {
  at: string;
  id: string;
}

export function encodeCursor(cursor: KeysetCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

export function decodeCursor(value: string): KeysetCursor {
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Partial<KeysetCursor>;
    if (typeof parsed.id === 'string' && /^[0-9a-f-]{36}$/.test(parsed.id) && typeof parsed.at === 'string' && !Number.isNaN(Date.parse(parsed.at))) {
      return { id: parsed.id, at: parsed.at };
    }
  } catch {
    // fall through to the validation problem
  }
  throw Problem.validation([{ field: 'cursor', message: 'is not a cursor returned by this API' }]);
}
