// Keeps the bench database's table statistics as current as autovacuum keeps them on a
// production server.
//
// Why: our machines' Postgres runs with `autovacuum = off` (the CI configuration), so a
// fresh bench database is never analyzed. The services' statements are prepared, and
// Postgres caches a generic plan after five executions: planned while the tables held a
// few hundred rows, it joins them by hash over a sequential scan, and keeps doing so as
// they grow to thousands (measured: ~8,700 tuples read per task after 2,000 tasks,
// bench/RESULTS.md "Session 17"). On a production server autovacuum analyzes a table once
// more than 50 + 10 % of its rows changed; the new statistics invalidate the cached plans
// and the statements are planned again, by index.
//
// This applies autovacuum's analyze rule (autovacuum_analyze_threshold 50,
// autovacuum_analyze_scale_factor 0.1, their defaults) every `intervalMs`, compressing
// the first minutes of a deployment (autovacuum_naptime is 1 min) into the first seconds
// of a run. Its ANALYZE runs on the bench database's server, so its CPU counts in the
// Postgres figure.

const DUE_TABLES = `
SELECT format('%I.%I', s.schemaname, s.relname) AS name
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)`;

/** Starts the periodic analyze on `client` (a connected pg Client); `stop()` ends it and tells how many tables it analyzed. */
export function keepTableStatisticsCurrent(client, intervalMs = 2_000) {
  let running = Promise.resolve();
  let failure;
  let analyzed = 0;
  const analyzeDue = async () => {
    const { rows } = await client.query(DUE_TABLES);
    if (rows.length === 0) return;
    await client.query(`ANALYZE ${rows.map((row) => row.name).join(', ')}`);
    analyzed += rows.length;
  };
  const timer = setInterval(() => {
    running = running.then(analyzeDue).catch((error) => (failure ??= error));
  }, intervalMs);
  return async function stop() {
    clearInterval(timer);
    await running;
    if (failure) throw failure;
    return analyzed;
  };
}
