import { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '@atelier/testing';
import { arrayRows, WITHOUT_WAITING_FOR_FLUSH } from './sql-statements';

let db: TestDatabase;
let client: Client;

beforeAll(async () => {
  db = await createTestDatabase('atelier_sql_statements');
  client = new Client({ connectionString: db.url });
  await client.connect();
});

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

// The group statements' array parameters against real Postgres: the rows they give, and
// the plan Postgres keeps for a statement that reads them.
describe(arrayRows.name, () => {
  beforeAll(async () => {
    // A table the size of a running installation's, analyzed: lookups by id go through its primary key.
    await client.query(`CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)`);
    await client.query(`INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 20000) g`);
    await client.query('ANALYZE items');
  });

  it('gives the rows unnest gives, in order, with their position when asked', async () => {
    const { rows } = await client.query(`${arrayRows(['$1::int[]', '$2::text[]'], ['n', 'word'], 'ord')} ORDER BY ord`, [
      [3, 1, 2],
      ['c', 'a', 'b'],
    ]);
    expect(rows).toEqual([
      { n: 3, word: 'c', ord: '1' },
      { n: 1, word: 'a', ord: '2' },
      { n: 2, word: 'b', ord: '3' },
    ]);
    await expect(client.query(arrayRows(['$1::int[]'], ['n']), [[]])).resolves.toMatchObject({ rowCount: 0 });
    expect(() => arrayRows(['$1::int[]'], ['n', 'word'])).toThrow('1 arrays for 2 columns');
  });

  /** How Postgres planned `executions` runs of a named statement joining groups of 1-3 ids to `items`. */
  async function plansOf(name: string, rowsSql: string, executions: number): Promise<{ generic_plans: string; custom_plans: string }> {
    const text = `WITH req AS MATERIALIZED (${rowsSql}) SELECT i.label FROM req r JOIN items i ON i.id = r.id ORDER BY r.ord`;
    for (let n = 0; n < executions; n++) {
      const ids = Array.from({ length: 1 + (n % 3) }, (_, k) => 1 + ((n * 7 + k * 13) % 20000));
      const { rows } = await client.query({ name, text, values: [ids] });
      expect(rows.map((row) => row.label)).toEqual(ids.map((id) => `item ${id}`));
    }
    const { rows } = await client.query(`SELECT generic_plans::text, custom_plans::text FROM pg_prepared_statements WHERE name = $1`, [name]);
    return rows[0];
  }

  it('keeps a generic plan for a statement reading them, where unnest of the parameters is planned afresh on every execution', async () => {
    // Postgres tries five custom plans, then keeps the generic one when it costs no more.
    expect(await plansOf('fenced', arrayRows(['$1::int[]'], ['id'], 'ord'), 20)).toEqual({ custom_plans: '5', generic_plans: '15' });
    expect(await plansOf('unfenced', `SELECT * FROM unnest($1::int[]) WITH ORDINALITY AS r(id, ord)`, 20)).toEqual({ custom_plans: '20', generic_plans: '0' });
  });
});

// A hint or a step claim commits without waiting for its WAL to reach the disk; nothing else may.
describe('WITHOUT_WAITING_FOR_FLUSH', () => {
  beforeAll(async () => {
    await client.query(`CREATE TABLE marks (id int PRIMARY KEY, seen boolean NOT NULL DEFAULT false)`);
    await client.query(`INSERT INTO marks SELECT g FROM generate_series(1, 10) g`);
  });

  const setting = async () => (await client.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]?.synchronous_commit;

  it.each([
    ['a row changed', 3],
    ['no row matched', 99],
  ])("turns synchronous_commit off for the statement's own transaction only (%s)", async (_case, id) => {
    await client.query('BEGIN');
    await client.query(`UPDATE marks SET seen = true WHERE id = $1 AND ${WITHOUT_WAITING_FOR_FLUSH}`, [id]);
    expect(await setting()).toBe('off');
    await client.query('COMMIT');
    expect(await setting()).toBe('on');

    // A statement alone is its own transaction: the session keeps its setting after it.
    await client.query(`UPDATE marks SET seen = true WHERE id = $1 AND ${WITHOUT_WAITING_FOR_FLUSH}`, [id]);
    expect(await setting()).toBe('on');
  });
});
