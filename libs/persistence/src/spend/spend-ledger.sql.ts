// The statements that move money. Each is ONE statement (data-modifying CTEs), so each
// is atomic on its own and costs one round trip: the reservation path of every model
// call runs through here, so round trips are the budget.
//
// Why no deadlocks and no overspend, across any number of processes:
//  - every statement locks the budget rows it touches with `ORDER BY id FOR UPDATE`
//    (LockRows above Sort: rows are locked in id order), so two statements never wait
//    on each other in a cycle; a settlement locks its reservation row first, which no
//    reservation statement ever waits on (a new reservation is a new row);
//  - under READ COMMITTED a locked row is re-read at its latest committed version, and
//    the verdict (spent + reserved + amount <= limit, for EVERY applicable budget) is
//    computed from those locked versions, so the check and the increment are one step;
//  - a UTC day/month window rolls over inside the same statement (spent starts again
//    from 0 when the row's window_start is older than the statement's window), so a
//    rollover races with nothing. Reservations outstanding at the rollover stay in
//    reserved_usd and their settlement is booked in the window it happens in.

/** The current window start of budget row `b` at the statement's clock `now` (SQL). */
function windowStart(now: string): string {
  return `CASE b.period
      WHEN 'day' THEN GREATEST(b.window_start, date_trunc('day', ${now}, 'UTC'))
      WHEN 'month' THEN GREATEST(b.window_start, date_trunc('month', ${now}, 'UTC'))
      ELSE b.window_start END`;
}

/** Budget rows `b` matching `where`, locked in id order, with the window rolled to `now`. */
function lockedBudgets(where: string, now: string): string {
  return `SELECT b.id, b.scope, b.scope_key, b.period, b.limit_usd, w.window_start,
           CASE WHEN w.window_start > b.window_start THEN 0 ELSE b.spent_usd END AS spent_usd,
           b.reserved_usd
      FROM budgets b
      CROSS JOIN LATERAL (SELECT ${windowStart(now)} AS window_start) w
     WHERE ${where}
     ORDER BY b.id
       FOR UPDATE OF b`;
}

/**
 * Reserve $2 for attempt $1 against every budget whose scope key is in $4, all or
 * nothing. Idempotent per attempt id (a second call inserts nothing and holds nothing).
 * $1 attempt_id, $2 amount, $3 now, $4 scope keys, $5 tenant, $6 task, $7 step,
 * $8 expires_at, $9 model, $10 attempt, $11 actor, $12 trace id.
 */
export const RESERVE_SQL = `
WITH budget AS MATERIALIZED (
  ${lockedBudgets('b.scope_key = ANY($4::text[])', '$3::timestamptz')}
),
verdict AS (
  SELECT COALESCE(bool_and(spent_usd + reserved_usd + $2::numeric <= limit_usd), true) AS granted,
         COALESCE(array_agg(id ORDER BY id), '{}'::uuid[]) AS budget_ids
    FROM budget
),
reservation AS (
  INSERT INTO spend_reservations (attempt_id, step_id, task_id, tenant_id, budget_ids, amount_usd, expires_at, model, attempt, actor, trace_id, created_at)
  SELECT $1, $7::uuid, $6::uuid, $5::uuid, v.budget_ids, $2::numeric, $8::timestamptz, $9, $10::int, $11, $12, $3::timestamptz
    FROM verdict v
   WHERE v.granted
  ON CONFLICT (attempt_id) DO NOTHING
  RETURNING id
),
held AS (
  UPDATE budgets b
     SET reserved_usd = l.reserved_usd + $2::numeric, spent_usd = l.spent_usd, window_start = l.window_start, updated_at = $3::timestamptz
    FROM budget l
   WHERE b.id = l.id AND EXISTS (SELECT 1 FROM reservation)
  RETURNING b.id
)
SELECT v.granted,
       (SELECT count(*)::int FROM reservation) AS inserted,
       v.budget_ids::text[] AS budget_ids,
       COALESCE((SELECT json_agg(json_build_object(
                   'id', l.id, 'scope', l.scope, 'scopeKey', l.scope_key, 'period', l.period,
                   'limitUsd', trim_scale(l.limit_usd)::text, 'spentUsd', trim_scale(l.spent_usd)::text,
                   'reservedUsd', trim_scale(l.reserved_usd)::text,
                   'fits', l.spent_usd + l.reserved_usd + $2::numeric <= l.limit_usd) ORDER BY l.id)
                   FROM budget l), '[]'::json) AS budgets,
       (SELECT count(*)::int FROM held) AS held
  FROM verdict v`;

/**
 * Settles the reservations picked by `selector` (which may use $1): the reservation
 * takes state $4 and cost $3 (NULL: its reserved amount, for an outcome nobody knows),
 * every budget it held gets `spent += cost, reserved -= amount`, thresholds the spend
 * crosses write an alert (outbox) and its `budget.alert` audit event, the attempt lands
 * in the ledger (llm_calls, unique attempt id) with its `llm.call` audit event unless
 * $5 is NULL (a call that was never sent), and a successful answer is stored in the
 * response cache when $14 is set and the task allows it. All of it or none of it.
 * $2 now, $6..$10 tokens (input, output, cache write, of which 1 h, cache read),
 * $11 latency ms (NULL: since the reservation), $12 request id, $13 error type,
 * $14 cache key, $15 cache expiry, $16 cached response, $17 actor (NULL: the holder's),
 * $18 extra audit data.
 */
function settleSql(selector: string): string {
  return `
WITH res AS (
  UPDATE spend_reservations r
     SET state = $4::reservation_state,
         settled_usd = COALESCE($3::numeric, r.amount_usd),
         settled_at = $2::timestamptz
   WHERE ${selector}
  RETURNING r.id, r.attempt_id, r.budget_ids, r.amount_usd, r.settled_usd, r.step_id, r.task_id, r.tenant_id,
            r.model, r.attempt, r.actor, r.trace_id, r.created_at
),
delta AS (
  SELECT d.budget_id, sum(res.settled_usd) AS spend, sum(res.amount_usd) AS release
    FROM res CROSS JOIN LATERAL unnest(res.budget_ids) AS d(budget_id)
   GROUP BY d.budget_id
),
budget AS MATERIALIZED (
  ${lockedBudgets('b.id IN (SELECT budget_id FROM delta)', '$2::timestamptz')}
),
upd AS (
  UPDATE budgets b
     SET spent_usd = l.spent_usd + d.spend,
         reserved_usd = l.reserved_usd - d.release,
         window_start = l.window_start,
         updated_at = $2::timestamptz
    FROM budget l JOIN delta d ON d.budget_id = l.id
   WHERE b.id = l.id
  RETURNING b.id, b.scope, b.scope_key, b.tenant_id, b.task_id, b.period, b.limit_usd, b.alert_thresholds,
            b.window_start, l.spent_usd AS spent_before, b.spent_usd AS spent_after
),
fired AS (
  INSERT INTO budget_alerts (budget_id, tenant_id, task_id, scope, scope_key, period, threshold, window_start, limit_usd, spent_usd, created_at, next_attempt_at)
  SELECT u.id, u.tenant_id, u.task_id, u.scope, u.scope_key, u.period, t.threshold, u.window_start, u.limit_usd, u.spent_after,
         $2::timestamptz, $2::timestamptz
    FROM upd u CROSS JOIN LATERAL unnest(u.alert_thresholds) AS t(threshold)
   WHERE u.spent_before * 100 < t.threshold * u.limit_usd
     AND u.spent_after * 100 >= t.threshold * u.limit_usd
  ON CONFLICT (budget_id, window_start, threshold) DO NOTHING
  RETURNING id, budget_id, tenant_id, task_id, scope, scope_key, period, threshold, limit_usd, spent_usd, window_start
),
call AS (
  INSERT INTO llm_calls (attempt_id, step_id, task_id, tenant_id, model, attempt, input_tokens, output_tokens,
                         cache_creation_input_tokens, cache_creation_1h_input_tokens, cache_read_input_tokens,
                         cost_usd, reserved_usd, latency_ms, request_id, outcome, error_type, created_at)
  SELECT res.attempt_id, res.step_id, res.task_id, res.tenant_id, res.model, COALESCE(res.attempt, 0),
         $6::int, $7::int, $8::int, $9::int, $10::int, res.settled_usd, res.amount_usd,
         COALESCE($11::int, (extract(epoch FROM ($2::timestamptz - res.created_at)) * 1000)::int),
         $12, $5::llm_call_outcome, $13, $2::timestamptz
    FROM res
   WHERE $5::llm_call_outcome IS NOT NULL AND res.step_id IS NOT NULL
  ON CONFLICT (attempt_id) DO NOTHING
  RETURNING attempt_id, step_id, task_id, tenant_id, model, cost_usd, latency_ms, request_id, outcome, error_type
),
audit AS (
  INSERT INTO audit_events (tenant_id, actor, action, subject, task_id, trace_id, request_id, data)
  SELECT c.tenant_id, COALESCE($17, res.actor, 'service:unknown'), 'llm.call', 'step:' || c.step_id::text, c.task_id, res.trace_id, c.request_id,
         jsonb_build_object('model', c.model, 'attempt', res.attempt, 'attemptId', c.attempt_id,
                            'inputTokens', $6::int, 'outputTokens', $7::int, 'cacheCreationInputTokens', $8::int,
                            'cacheCreation1hInputTokens', $9::int, 'cacheReadInputTokens', $10::int,
                            'costUsd', trim_scale(c.cost_usd)::text, 'reservedUsd', trim_scale(res.amount_usd)::text,
                            'latencyMs', c.latency_ms, 'outcome', c.outcome, 'errorType', c.error_type)
         || CASE WHEN $17::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('heldBy', res.actor) END
         || COALESCE($18::jsonb, '{}'::jsonb)
    FROM call c JOIN res ON res.attempt_id = c.attempt_id
  UNION ALL
  SELECT f.tenant_id, COALESCE($17, (SELECT actor FROM res LIMIT 1), 'service:unknown'), 'budget.alert', 'budget:' || f.budget_id::text,
         f.task_id, (SELECT trace_id FROM res LIMIT 1), NULL,
         jsonb_build_object('alertId', f.id, 'scope', f.scope, 'scopeKey', f.scope_key, 'period', f.period,
                            'threshold', f.threshold, 'limitUsd', trim_scale(f.limit_usd)::text,
                            'spentUsd', trim_scale(f.spent_usd)::text, 'windowStart', f.window_start)
    FROM fired f
  RETURNING 1
),
cached AS (
  INSERT INTO llm_response_cache (key, tenant_id, model, response, created_at, expires_at)
  SELECT $14, res.tenant_id, res.model, $16::jsonb, $2::timestamptz, $15::timestamptz
    FROM res
   WHERE $14::text IS NOT NULL
     AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = res.task_id AND t.response_cache)
  ON CONFLICT (key) DO UPDATE
     SET response = EXCLUDED.response, model = EXCLUDED.model, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
  RETURNING 1
)
SELECT (SELECT count(*)::int FROM res) AS settled,
       (SELECT trim_scale(COALESCE(sum(settled_usd), 0))::text FROM res) AS cost_usd,
       (SELECT count(*)::int FROM call) AS recorded,
       (SELECT count(*)::int FROM audit) AS audited,
       (SELECT count(*)::int FROM cached) AS cached,
       COALESCE((SELECT json_agg(json_build_object(
                   'id', f.id, 'budgetId', f.budget_id, 'scope', f.scope, 'scopeKey', f.scope_key, 'period', f.period,
                   'threshold', f.threshold, 'limitUsd', trim_scale(f.limit_usd)::text, 'spentUsd', trim_scale(f.spent_usd)::text))
                   FROM fired f), '[]'::json) AS alerts`;
}

/** Settles one attempt's reservation ($1 attempt id); a no-op when it is no longer held. */
export const SETTLE_SQL = settleSql(`r.attempt_id = $1 AND r.state = 'reserved'`);

/**
 * Settles up to $1 reservations whose holder outlived their TTL (expires_at < $2) as
 * unknown outcomes at their reserved amount. SKIP LOCKED: replicas sweep disjoint rows,
 * and a holder settling right now is never waited on.
 */
export const SWEEP_SQL = settleSql(`r.id IN (
      SELECT s.id FROM spend_reservations s
       WHERE s.state = 'reserved' AND s.expires_at < $2::timestamptz
       ORDER BY s.expires_at
       LIMIT $1::int
         FOR UPDATE SKIP LOCKED)`);

/**
 * A response-cache hit, looked up and recorded in one statement: the answer for key $1
 * (unexpired at $2, and only if task $5 allows the cache) lands in the ledger at cost 0
 * under attempt id $3, with its `llm.cache_hit` audit event.
 * $4 tenant, $5 task, $6 step, $7 attempt, $8 actor, $9 trace id.
 */
export const CACHE_HIT_SQL = `
WITH hit AS MATERIALIZED (
  SELECT c.key, c.model, c.response
    FROM llm_response_cache c
   WHERE c.key = $1 AND c.tenant_id = $4::uuid AND c.expires_at > $2::timestamptz
     AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = $5::uuid AND t.response_cache)
),
call AS (
  INSERT INTO llm_calls (attempt_id, step_id, task_id, tenant_id, model, attempt, cost_usd, latency_ms, outcome, cache_hit, created_at)
  SELECT $3, $6::uuid, $5::uuid, $4::uuid, hit.model, $7::int, 0, 0, 'success', true, $2::timestamptz
    FROM hit
  ON CONFLICT (attempt_id) DO NOTHING
  RETURNING attempt_id, model
),
audit AS (
  INSERT INTO audit_events (tenant_id, actor, action, subject, task_id, trace_id, data)
  SELECT $4::uuid, $8, 'llm.cache_hit', 'step:' || $6::text, $5::uuid, $9,
         jsonb_build_object('model', c.model, 'attempt', $7::int, 'attemptId', c.attempt_id, 'costUsd', '0', 'cacheKey', $1)
    FROM call c
  RETURNING 1
)
SELECT hit.model, hit.response, (SELECT count(*)::int FROM call) AS recorded FROM hit`;
