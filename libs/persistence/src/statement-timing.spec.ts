import { Pool } from 'pg';
import { type StatementDurations, timeStatements, UNNAMED_STATEMENT } from './statement-timing';

const SERVER = process.env['TEST_DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

describe(timeStatements.name, () => {
  let pool: Pool;
  const observed: { statement: string; seconds: number }[] = [];
  const durations: StatementDurations = { observe: ({ statement }, seconds) => observed.push({ statement, seconds }) };

  beforeAll(() => {
    pool = new Pool({ connectionString: SERVER, max: 2 });
    timeStatements(pool, durations);
  });
  afterAll(() => pool.end());
  beforeEach(() => (observed.length = 0));

  it('records each statement on the pool under its prepared name, from the call to the answer', async () => {
    const { rows } = await pool.query({ name: 'timing.sleep', text: 'SELECT pg_sleep($1::float / 1000) IS NULL AS slept', values: [20] });
    expect(rows).toEqual([{ slept: false }]);
    await pool.query('SELECT 1');
    expect(observed.map(({ statement }) => statement)).toEqual(['timing.sleep', UNNAMED_STATEMENT]);
    expect(observed[0]?.seconds).toBeGreaterThanOrEqual(0.02);
    expect(observed[0]?.seconds).toBeLessThan(5);
  });

  it('records a statement that fails, and leaves its error to the caller', async () => {
    await expect(pool.query({ name: 'timing.broken', text: 'SELECT no_such_column FROM pg_class' })).rejects.toThrow('no_such_column');
    expect(observed).toEqual([{ statement: 'timing.broken', seconds: expect.any(Number) }]);
  });

  it('leaves the callback form working, untimed', async () => {
    const rows = await new Promise<unknown[]>((resolve, reject) => pool.query('SELECT 2 AS two', (error, result) => (error ? reject(error) : resolve(result.rows))));
    expect(rows).toEqual([{ two: 2 }]);
    expect(observed).toEqual([]);
  });
});
