import { Problem } from './problem';

/** A position in a newest-first listing ordered by (timestamp, id): opaque to clients. */
export interface KeysetCursor {
  at: string;
  id: string;
}

export function encodeCursor(cursor: KeysetCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What `toISOString` writes for the years Postgres and JavaScript agree on. */
const ISO_INSTANT = /^(19[7-9]\d|[2-9]\d{3})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The cursor a client sent back, or a 400 naming `cursor`. Only what `encodeCursor`
 * writes passes: anything else (a hand-made id, a year Postgres refuses) would otherwise
 * reach the database and fail there as a 500.
 */
export function decodeCursor(value: string): KeysetCursor {
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Partial<KeysetCursor>;
    if (typeof parsed.id === 'string' && UUID.test(parsed.id) && typeof parsed.at === 'string' && ISO_INSTANT.test(parsed.at) && !Number.isNaN(Date.parse(parsed.at))) {
      return { id: parsed.id, at: parsed.at };
    }
  } catch {
    // fall through to the validation problem
  }
  throw Problem.validation([{ field: 'cursor', message: 'is not a cursor returned by this API' }]);
}
