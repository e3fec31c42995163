// The history a running installation's database holds, for the bench database: finished
// brief tasks of four other tenants, each with its two steps, their settled holds and
// ledger rows, and live response-cache entries; then VACUUM ANALYZE, as autovacuum would have
// long before: left to autovacuum, the vacuum of the fresh history ran during the measured
// tasks and was counted as theirs (about 1 ms of Postgres CPU per brief task).
//
// Why: on tables of a few hundred rows, the statistics size them at a page or two and the
// services' prepared statements cache generic plans that scan them whole. With history,
// the plans are the ones a running installation has, and the run's own tasks grow the
// tables by a fraction, as a day's work does there. The audit trail is left out: the step
// path only appends to it and reads it by index, and sealing a history's worth of events
// would take minutes.

const SEED = `
WITH tenant AS (
  INSERT INTO tenants (name) SELECT 'history-' || g FROM generate_series(1, 4) g RETURNING id
), tenant_ids AS (
  SELECT array_agg(id) AS ids FROM tenant
), task AS (
  INSERT INTO tasks (tenant_id, workflow, status, input, result, version, created_at, updated_at, completed_at)
  SELECT ids[1 + g % 4], 'brief', 'completed', jsonb_build_object('goal', 'history ' || g), '{"document":"# history"}', 4,
         now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
  FROM tenant_ids, generate_series(1, $1::int) g
  RETURNING id, tenant_id
), step AS (
  INSERT INTO steps (task_id, key, kind, agent, status, attempt, input, output, queued_at, dispatched_at, started_at, completed_at, updated_at)
  SELECT task.id, k.key, k.kind, k.agent, 'completed', 1, '{}', '{"text":"history"}',
         now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
  FROM task CROSS JOIN (VALUES ('investigate', 'research.investigate', 'research'), ('draft', 'writer.draft', 'writer')) AS k(key, kind, agent)
  RETURNING id, task_id
), hold AS (
  INSERT INTO spend_reservations (attempt_id, step_id, task_id, tenant_id, budget_ids, amount_usd, settled_usd, state, expires_at, created_at, settled_at, model, attempt, actor)
  SELECT step.id || ':1:0', step.id, step.task_id, task.tenant_id, '{}', 0.02, 0.007, 'settled',
         now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', 'claude-haiku-5-5', 1, 'service:bench'
  FROM step JOIN task ON task.id = step.task_id
  RETURNING attempt_id, step_id, task_id, tenant_id
), cache AS (
  INSERT INTO llm_response_cache (key, tenant_id, model, response, expires_at)
  SELECT encode(sha256(convert_to(hold.attempt_id, 'UTF8')), 'hex'), hold.tenant_id, 'claude-haiku-5-5', '{"text":"history"}', now() + interval '1 day'
  FROM hold
)
INSERT INTO llm_calls (attempt_id, step_id, task_id, tenant_id, model, attempt, input_tokens, output_tokens, cost_usd, reserved_usd, latency_ms, outcome, created_at)
SELECT attempt_id, step_id, task_id, tenant_id, 'claude-haiku-5-5', 1, 400, 300, 0.007, 0.02, 800, 'success', now() - interval '1 day'
FROM hold`;

/** Seeds `tasks` finished tasks' worth of history into the database `client` is connected to, then vacuums and analyzes it. */
export async function seedTaskHistory(client, tasks) {
  if (tasks <= 0) return;
  await client.query(SEED, [tasks]);
  await client.query('VACUUM (ANALYZE)');
}
