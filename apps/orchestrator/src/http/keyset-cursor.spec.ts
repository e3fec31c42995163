import { decodeCursor, encodeCursor } from './keyset-cursor';
import { Problem } from './problem';

describe(decodeCursor.name, () => {
  const forged = (cursor: unknown) => Buffer.from(JSON.stringify(cursor)).toString('base64url');
  const refusal = (value: string) => {
    try {
      decodeCursor(value);
    } catch (error) {
      return error;
    }
    return undefined;
  };

  it('reads back what encodeCursor wrote', () => {
    const cursor = { at: new Date('2026-12-06T10:00:00.123Z').toISOString(), id: '3f0c2a8e-9b1d-4c5e-8f7a-1b2c3d4e5f60' };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
  });

  it('refuses, as a 400 naming the cursor, what would only fail inside the database', () => {
    for (const cursor of [
      'not base64 json',
      forged({ at: '2026-12-06T10:00:00.000Z', id: '000000000000000000000000000000000000' }),
      forged({ at: '0000-01-01T00:00:00.000Z', id: '3f0c2a8e-9b1d-4c5e-8f7a-1b2c3d4e5f60' }),
      forged({ at: 'yesterday', id: '3f0c2a8e-9b1d-4c5e-8f7a-1b2c3d4e5f60' }),
      forged({ id: '3f0c2a8e-9b1d-4c5e-8f7a-1b2c3d4e5f60' }),
    ]) {
      const error = refusal(cursor);
      expect(error).toBeInstanceOf(Problem);
      expect(error).toMatchObject({ statusCode: 400, errors: [{ field: 'cursor', message: 'is not a cursor returned by this API' }] });
    }
  });
});
