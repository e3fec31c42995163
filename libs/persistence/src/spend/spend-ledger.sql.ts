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
//
// Concurrent calls of one process are grouped into one statement (SpendLedger): every
// call locks the same global/tenant rows, so one lock hand-off per group instead of per
// call is what makes hundreds of callers fast. A grouped reservation is granted or denied
// only when that is certain; the rest are decided alone (RESERVE_SQL), in arrival order,
// so grouping never denies a call that would have fitted on its own.

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
 * Reserve a group of attempts in one statement, deciding each exactly:
 *  - granted: its budgets still fit when every EARLIER fitting attempt of the group is
 *    counted on them (a running sum in arrival order), so all grants fit together;
 *  - denied: it does not fit even alone (granting others only makes that worse);
 *  - undecided (neither): the caller decides it alone afterwards (RESERVE_SQL).
 * Arrays, one element per attempt: $1 attempt ids (distinct), $2 amounts, $3 tenants,
 * $4 tasks, $5 steps, $6 expiries, $7 models, $8 attempts, $9 actors, $10 trace ids;
 * $11 now. Attempt ids already held are skipped (idempotent) and left undecided.
 */
export const RESERVE_GROUP_SQL = `
WITH req AS (
  SELECT * FROM unnest($1::text[], $2::numeric[], $3::uuid[], $4::uuid[], $5::uuid[], $6::timestamptz[], $7::text[], $8::int[], $9::text[], $10::text[])
    WITH ORDINALITY AS r(attempt_id, amount, tenant_id, task_id, step_id, expires_at, model, attempt, actor, trace_id, idx)
   WHERE NOT EXISTS (SELECT 1 FROM spend_reservations s WHERE s.attempt_id = r.attempt_id)
),
want AS (
  SELECT r.attempt_id, r.idx, b.id AS budget_id, r.amount
    FROM req r JOIN budgets b ON b.scope_key IN ('global', 'tenant:' || r.tenant_id::text, 'task:' || r.task_id::text)
),
budget AS MATERIALIZED (
  ${lockedBudgets('b.id IN (SELECT budget_id FROM want)', '$11::timestamptz')}
),
alone AS (
  SELECT w.attempt_id, bool_and(l.spent_usd + l.reserved_usd + w.amount <= l.limit_usd) AS fits,
         json_agg(json_build_object('id', l.id, 'scope', l.scope, 'scopeKey', l.scope_key, 'period', l.period,
                                    'limitUsd', trim_scale(l.limit_usd)::text, 'spentUsd', trim_scale(l.spent_usd)::text,
                                    'reservedUsd', trim_scale(l.reserved_usd)::text, 'fits', false) ORDER BY l.id)
           FILTER (WHERE l.spent_usd + l.reserved_usd + w.amount > l.limit_usd) AS blocking
    FROM want w JOIN budget l ON l.id = w.budget_id
   GROUP BY w.attempt_id
),
running AS (
  SELECT w.attempt_id, w.budget_id, sum(w.amount) OVER (PARTITION BY w.budget_id ORDER BY w.idx) AS total
    FROM want w
   WHERE NOT EXISTS (SELECT 1 FROM alone a WHERE a.attempt_id = w.attempt_id AND NOT a.fits)
),
granted AS (
  SELECT r.* FROM req r
   WHERE NOT EXISTS (SELECT 1 FROM alone a WHERE a.attempt_id = r.attempt_id AND NOT a.fits)
     AND NOT EXISTS (SELECT 1 FROM running u JOIN budget l ON l.id = u.budget_id
                      WHERE u.attempt_id = r.attempt_id AND l.spent_usd + l.reserved_usd + u.total > l.limit_usd)
),
reservation AS (
  INSERT INTO spend_reservations (attempt_id, step_id, task_id, tenant_id, budget_ids, amount_usd, expires_at, model, attempt, actor, trace_id, created_at)
  SELECT g.attempt_id, g.step_id, g.task_id, g.tenant_id,
         COALESCE((SELECT array_agg(w.budget_id ORDER BY w.budget_id) FROM want w WHERE w.attempt_id = g.attempt_id), '{}'::uuid[]),
         g.amount, g.expires_at, g.model, g.attempt, g.actor, g.trace_id, $11::timestamptz
    FROM granted g
  ON CONFLICT (attempt_id) DO NOTHING
  RETURNING attempt_id, budget_ids
),
held AS (
  UPDATE budgets b
     SET reserved_usd = l.reserved_usd + h.total, spent_usd = l.spent_usd, window_start = l.window_start, updated_at = $11::timestamptz
    FROM budget l
    JOIN (SELECT w.budget_id, sum(w.amount) AS total FROM want w JOIN reservation s ON s.attempt_id = w.attempt_id GROUP BY w.budget_id) h ON h.budget_id = l.id
   WHERE b.id = l.id
  RETURNING b.id
)
SELECT COALESCE((SELECT json_object_agg(attempt_id, budget_ids::text[]) FROM reservation), '{}'::json) AS granted,
       COALESCE((SELECT json_object_agg(attempt_id, blocking) FROM alone WHERE NOT fits), '{}'::json) AS denied,
       (SELECT count(*)::int FROM held) AS held`;

/** The columns a settlement source yields, one row per attempt to settle. */
const SETTLEMENT_COLUMNS =
  'attempt_id, cost, state, outcome, input_tokens, output_tokens, cache_creation, cache_creation_1h, cache_read, latency_ms, request_id, error_type, cache_key, cache_expires_at, cache_response, audit_data';

/**
 * Settles the attempts `source` yields (SETTLEMENT_COLUMNS): each reservation still held
 * takes its state and cost (NULL cost: its reserved amount, for an outcome nobody knows),
 * every budget it held gets `spent += cost, reserved -= amount`, thresholds the spend
 * crosses write an alert (outbox) and its `budget.alert` audit event, the attempt lands
 * in the ledger (llm_calls, unique attempt id) with its `llm.call` audit event unless its
 * outcome is NULL (a call never sent), and a successful answer is stored in the response
 * cache when it has a key and its task allows it. All of it or none of it.
 * `now`, `actor` (NULL: each holder's) and `extra` (audit data) are SQL expressions.
 */
function settleSql(source: string, p: { now: string; actor: string; extra: string }): string {
  return `
WITH x (${SETTLEMENT_COLUMNS}) AS MATERIALIZED (
  ${source}
),
res AS (
  UPDATE spend_reservations r
     SET state = x.state, settled_usd = COALESCE(x.cost, r.amount_usd), settled_at = ${p.now}
    FROM x
   WHERE r.attempt_id = x.attempt_id
     AND r.id IN (SELECT s.id FROM spend_reservations s
                   WHERE s.attempt_id IN (SELECT attempt_id FROM x) AND s.state = 'reserved'
                   ORDER BY s.id FOR UPDATE)
  RETURNING r.id, r.attempt_id, r.budget_ids, r.amount_usd, r.settled_usd, r.step_id, r.task_id, r.tenant_id,
            r.model, r.attempt, r.actor, r.trace_id, r.created_at,
            x.outcome, x.input_tokens, x.output_tokens, x.cache_creation, x.cache_creation_1h, x.cache_read,
            x.latency_ms, x.request_id, x.error_type, x.cache_key, x.cache_expires_at, x.cache_response, x.audit_data
),
call AS (
  INSERT INTO llm_calls (attempt_id, step_id, task_id, tenant_id, model, attempt, input_tokens, output_tokens,
                         cache_creation_input_tokens, cache_creation_1h_input_tokens, cache_read_input_tokens,
                         cost_usd, reserved_usd, latency_ms, request_id, outcome, error_type, created_at)
  SELECT res.attempt_id, res.step_id, res.task_id, res.tenant_id, res.model, COALESCE(res.attempt, 0),
         res.input_tokens, res.output_tokens, res.cache_creation, res.cache_creation_1h, res.cache_read,
         res.settled_usd, res.amount_usd,
         COALESCE(res.latency_ms, (extract(epoch FROM (${p.now} - res.created_at)) * 1000)::int),
         res.request_id, res.outcome, res.error_type, ${p.now}
    FROM res
   WHERE res.outcome IS NOT NULL AND res.step_id IS NOT NULL
  ON CONFLICT (attempt_id) DO NOTHING
  RETURNING attempt_id, cost_usd, latency_ms
),
call_audit AS (
  INSERT INTO audit_events (tenant_id, actor, action, subject, task_id, trace_id, request_id, data)
  SELECT res.tenant_id, COALESCE(${p.actor}, res.actor, 'service:unknown'), 'llm.call', 'step:' || res.step_id::text, res.task_id,
         res.trace_id, res.request_id,
         jsonb_build_object('model', res.model, 'attempt', res.attempt, 'attemptId', res.attempt_id,
                            'inputTokens', res.input_tokens, 'outputTokens', res.output_tokens,
                            'cacheCreationInputTokens', res.cache_creation, 'cacheCreation1hInputTokens', res.cache_creation_1h,
                            'cacheReadInputTokens', res.cache_read,
                            'costUsd', trim_scale(c.cost_usd)::text, 'reservedUsd', trim_scale(res.amount_usd)::text,
                            'latencyMs', c.latency_ms, 'outcome', res.outcome, 'errorType', res.error_type)
         || CASE WHEN ${p.actor} IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('heldBy', res.actor) END
         || COALESCE(${p.extra}, '{}'::jsonb)
         || COALESCE(res.audit_data, '{}'::jsonb)
    FROM call c JOIN res ON res.attempt_id = c.attempt_id
  RETURNING 1
),
cached AS (
  INSERT INTO llm_response_cache (key, tenant_id, model, response, created_at, expires_at)
  SELECT DISTINCT ON (res.cache_key) res.cache_key, res.tenant_id, res.model, res.cache_response, ${p.now}, res.cache_expires_at
    FROM res
   WHERE res.cache_key IS NOT NULL
     AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = res.task_id AND t.response_cache)
  ON CONFLICT (key) DO UPDATE
     SET response = EXCLUDED.response, model = EXCLUDED.model, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
  RETURNING 1
),
delta AS (
  SELECT d.budget_id, sum(res.settled_usd) AS spend, sum(res.amount_usd) AS release
    FROM res CROSS JOIN LATERAL unnest(res.budget_ids) AS d(budget_id)
   GROUP BY d.budget_id
),
budget AS MATERIALIZED (
  ${lockedBudgets('b.id IN (SELECT budget_id FROM delta)', p.now)}
),
upd AS (
  UPDATE budgets b
     SET spent_usd = l.spent_usd + d.spend,
         reserved_usd = l.reserved_usd - d.release,
         window_start = l.window_start,
         updated_at = ${p.now}
    FROM budget l JOIN delta d ON d.budget_id = l.id
   WHERE b.id = l.id
  RETURNING b.id, b.scope, b.scope_key, b.tenant_id, b.task_id, b.period, b.limit_usd, b.alert_thresholds,
            b.window_start, l.spent_usd AS spent_before, b.spent_usd AS spent_after
),
fired AS (
  INSERT INTO budget_alerts (budget_id, tenant_id, task_id, scope, scope_key, period, threshold, window_start, limit_usd, spent_usd, created_at, next_attempt_at)
  SELECT u.id, u.tenant_id, u.task_id, u.scope, u.scope_key, u.period, t.threshold, u.window_start, u.limit_usd, u.spent_after,
         ${p.now}, ${p.now}
    FROM upd u CROSS JOIN LATERAL unnest(u.alert_thresholds) AS t(threshold)
   WHERE u.spent_before * 100 < t.threshold * u.limit_usd
     AND u.spent_after * 100 >= t.threshold * u.limit_usd
  ON CONFLICT (budget_id, window_start, threshold) DO NOTHING
  RETURNING id, budget_id, tenant_id, task_id, scope, scope_key, period, threshold, limit_usd, spent_usd, window_start
),
alert_audit AS (
  INSERT INTO audit_events (tenant_id, actor, action, subject, task_id, trace_id, request_id, data)
  SELECT f.tenant_id, COALESCE(${p.actor}, (SELECT actor FROM res LIMIT 1), 'service:unknown'), 'budget.alert', 'budget:' || f.budget_id::text,
         f.task_id, (SELECT trace_id FROM res LIMIT 1), NULL,
         jsonb_build_object('alertId', f.id, 'scope', f.scope, 'scopeKey', f.scope_key, 'period', f.period,
                            'threshold', f.threshold, 'limitUsd', trim_scale(f.limit_usd)::text,
                            'spentUsd', trim_scale(f.spent_usd)::text, 'windowStart', f.window_start)
    FROM fired f
  RETURNING 1
)
-- Read in this order on purpose: ledger rows, their audit events and cache entries are
-- written before the budget rows are locked, so the hottest row (the global budget) is
-- held only for its own update and the commit.
SELECT COALESCE((SELECT json_object_agg(attempt_id, trim_scale(settled_usd)::text) FROM res), '{}'::json) AS settled,
       (SELECT count(*)::int FROM call) AS recorded,
       (SELECT count(*)::int FROM call_audit) AS audited,
       (SELECT count(*)::int FROM cached) AS cached,
       (SELECT count(*)::int FROM upd) AS budgets,
       COALESCE((SELECT json_agg(json_build_object(
                   'id', f.id, 'budgetId', f.budget_id, 'scope', f.scope, 'scopeKey', f.scope_key, 'period', f.period,
                   'threshold', f.threshold, 'limitUsd', trim_scale(f.limit_usd)::text, 'spentUsd', trim_scale(f.spent_usd)::text))
                   FROM fired f), '[]'::json) AS alerts,
       (SELECT count(*)::int FROM alert_audit) AS alert_events`;
}

/**
 * Settles a group of attempts; arrays, one element per attempt ($1..$16 in the order of
 * SETTLEMENT_COLUMNS, with $3 reservation states and $4 call outcomes, NULL: never sent,
 * and $16 extra audit data of the `llm.call` event, e.g. captured prompt and response);
 * $17 now. Attempts no longer held (settled by the sweeper, or a replay) are left alone.
 */
export const SETTLE_SQL = settleSql(
  `SELECT * FROM unnest($1::text[], $2::numeric[], $3::reservation_state[], $4::llm_call_outcome[], $5::int[], $6::int[], $7::int[], $8::int[],
                        $9::int[], $10::int[], $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::jsonb[], $16::jsonb[])`,
  { now: '$17::timestamptz', actor: 'NULL::text', extra: 'NULL::jsonb' },
);

/**
 * Settles up to $1 reservations whose holder outlived their TTL (expires_at < $2) as
 * unknown outcomes at their reserved amount, audited by actor $3 with extra data $4.
 * SKIP LOCKED: replicas sweep disjoint rows, and a holder settling right now is never
 * waited on.
 */
export const SWEEP_SQL = settleSql(
  `SELECT s.attempt_id, NULL::numeric, 'unknown_outcome'::reservation_state, 'unknown'::llm_call_outcome, 0, 0, 0, 0, 0,
          NULL::int, NULL::text, 'holder_lost'::text, NULL::text, NULL::timestamptz, NULL::jsonb, NULL::jsonb
     FROM spend_reservations s
    WHERE s.state = 'reserved' AND s.expires_at < $2::timestamptz
    ORDER BY s.expires_at
    LIMIT $1::int
      FOR UPDATE SKIP LOCKED`,
  { now: '$2::timestamptz', actor: '$3::text', extra: '$4::jsonb' },
);

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
