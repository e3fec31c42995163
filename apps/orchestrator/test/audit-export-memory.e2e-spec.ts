import { readFile } from 'node:fs/promises';
import { Client } from 'pg';
import { createTestDatabase, startNatsServer, startService, type ServiceProcess, type TestDatabase } from '@atelier/testing';
import { SEALER_LOCK_KEY } from '../src/audit/audit-sealer';

// An export of 100,000 events (~110 MB of NDJSON) must stream: the orchestrator's memory
// stays flat instead of growing with the size of the chain. Its heap is capped below the
// export's size, so holding the export (or its rows) in memory would crash it; RSS is
// bounded too. (Uncapped, V8 lets garbage pile up before collecting: RSS then says more
// about the collector than about the export.)

const EVENTS = 100_000;
const BOOTSTRAP_KEY = 'bootstrap-admin-key-for-export-e2e-0123456789';
const HEAP_LIMIT_MB = 128;
/** Far below the export's size (and the several times that it would take to hold it as rows). */
const MAX_RSS_GROWTH_BYTES = 80 * 1024 * 1024;

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) * 1024;
}

describe('audit export memory', () => {
  let db: TestDatabase;
  let sql: Client;
  let nats: Awaited<ReturnType<typeof startNatsServer>>;
  let orchestrator: ServiceProcess;

  beforeAll(async () => {
    [db, nats] = await Promise.all([createTestDatabase(), startNatsServer()]);
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    orchestrator = await startService('orchestrator', {
      DATABASE_URL: db.url,
      NATS_URL: nats.url,
      ATELIER_BOOTSTRAP_API_KEY: BOOTSTRAP_KEY,
      NODE_OPTIONS: `--max-old-space-size=${HEAP_LIMIT_MB}`,
    });
  }, 60_000);

  afterAll(async () => {
    await orchestrator?.stop();
    await sql?.end();
    await nats?.stop();
    await db?.drop();
  });

  it('streams 100,000 events as NDJSON with flat memory', async () => {
    // The bootstrap key's own event is sealed first: the sealer continues after the last
    // link in the chain, so an event left behind the links written below would stay unsealed.
    const unsealed = async () =>
      Number((await sql.query('SELECT count(*) AS n FROM audit_events e WHERE NOT EXISTS (SELECT FROM audit_chain c WHERE c.seq = e.seq)')).rows[0].n);
    while ((await unsealed()) > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    // What is measured is the export, not the sealer: the events get their links directly
    // (a superuser with triggers off, holding the sealer's lock), in seconds instead of a
    // sealing run.
    await sql.query(`BEGIN; SET LOCAL session_replication_role = replica;
      SELECT pg_advisory_xact_lock(${SEALER_LOCK_KEY});
      WITH events AS (
        INSERT INTO audit_events (actor, action, subject, trace_id, data)
        SELECT 'service:research-agent', 'llm.call', 'step:' || g, md5(g::text),
               jsonb_build_object('n', g, 'costUsd', '0.000123', 'prompt', jsonb_build_object('sha256', md5(g::text) || md5((-g)::text), 'content', repeat('lorem ipsum ', 50)))
          FROM generate_series(1, ${EVENTS}) AS g
        RETURNING seq, (data->>'n')::bigint AS g
      )
      INSERT INTO audit_chain (chain_pos, seq, prev_hash, hash)
      SELECT head.pos + g, seq, md5((g - 1)::text) || md5((1 - g)::text), md5(g::text) || md5((-g)::text)
        FROM events, (SELECT coalesce(max(chain_pos), 0) AS pos FROM audit_chain) AS head;
      COMMIT;`);
    const total = Number((await sql.query('SELECT max(chain_pos) AS n FROM audit_chain')).rows[0].n);
    expect(total).toBeGreaterThanOrEqual(EVENTS);

    const download = async (path: string, onChunk?: () => void) => {
      const response = await fetch(`${orchestrator.url}${path}`, { headers: { authorization: `Bearer ${BOOTSTRAP_KEY}` } });
      expect(response.status).toBe(200);
      let bytes = 0;
      let lines = 0;
      let tail = '';
      const decoder = new TextDecoder();
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.byteLength;
        const text = tail + decoder.decode(chunk, { stream: true });
        const parts = text.split('\n');
        tail = parts.pop() ?? '';
        lines += parts.length;
        onChunk?.();
      }
      return { bytes, lines, last: tail };
    };

    await download('/v1/audit/export?to=5000'); // warm up: code paths, pools, buffers
    const baseline = await rssBytes(orchestrator.pid);
    let peak = baseline;
    let sampling = Promise.resolve();
    const sample = () => {
      sampling = sampling.then(async () => {
        peak = Math.max(peak, await rssBytes(orchestrator.pid));
      });
    };
    const timer = setInterval(sample, 25);
    let chunks = 0;
    const exported = await download('/v1/audit/export', () => ++chunks % 64 === 0 && sample()).finally(() => clearInterval(timer));
    await sampling;

    expect(exported.lines).toBe(total);
    expect(exported.last).toBe('');
    expect(exported.bytes).toBeGreaterThan(100_000_000);
    expect(peak - baseline).toBeLessThan(MAX_RSS_GROWTH_BYTES);
  }, 90_000);
});
