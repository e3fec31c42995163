// The statements that move money. Each is ONE statement (data-modifying CTEs), so each
// is atomic on its own and costs one round trip: the reservation path of every model
// call runs through here, so round trips are the budget.
//
// Why no deadlocks and no overspend, across any number of processes:
//  - a reservation locks the budget rows it touches in one fixed order (task budgets,
//    then tenant budgets, then the global ones, by id within each: LockRows above Sort),
//    so two statements never wait on each other in a cycle, and the row every call
//    shares (global) is taken last and held for the shortest time; the fast statement
//    writes its reservation rows before it locks any budget row at all;
//  - under READ COMMITTED a locked row is re-read at its latest committed version, and
//    the verdict (spent + reserved + amount <= limit, for EVERY applicable budget) is
//    computed from those locked versions, so the check and the increment are one step;
//  - a settlement never locks a budget row: it locks its own reservation row and records
//    what each budget owes (budget_pending_settlements) in the same transaction as its
//    ledger row. Whoever next locks the budget folds those rows into it, taking them with
//    DELETE ... RETURNING, so each is folded exactly once. A settlement releases at least
//    what it spends, so an unfolded one leaves the row over-stating spent + reserved: a
//    verdict on the row is never too generous, and one that refuses folds first, so
//    refusals are exact. budget_balances (a view) shows the exact money at any instant;
//  - budget_pending_settlements has no foreign key to budgets: the check's KEY SHARE lock
//    on the budget row, taken by every settlement, turned the hottest row's locks into
//    multixacts, and concurrent reservations deadlocked on them;
//  - a UTC day/month window rolls over inside the statement that locks the row (spent
//    starts again from 0 when the row's window_start is older than the statement's
//    window), so a rollover races with nothing. Reservations outstanding at the rollover
//    stay in reserved_usd; a settlement's spend counts in the window it happened in.
//
// Concurrent calls of one process are grouped into one statement (SpendLedger): every
// call locks the same global/tenant rows, so one lock hand-off per group instead of per
// call is what makes hundreds of callers fast. A grouped reservation is granted or denied
// only when that is certain; the rest go again in the next statement, in arrival order,
// so grouping never denies a call that would have fitted on its own.

import { arrayRows } from '../sql-statements';

/** Lock order of budget rows, the same in every statement that locks more than one. */
const LOCK_ORDER = `CASE b.scope WHEN 'task' THEN 0 WHEN 'tenant' THEN 1 ELSE 2 END, b.id`;

/** The window a budget row `l` is in at `now` (a SQL expression), before any settlement is folded in. */
function rolledWindow(now: string): string {
  return `CASE WHEN l.period = 'total' THEN l.window_start ELSE GREATEST(l.window_start, date_trunc(l.period::text, ${now}, 'UTC')) END`;
}

/**
 * Budget rows `b` matching `where`, locked (LOCK_ORDER), then their settlements not yet
 * folded (taken: deleted), then `<name>`: each budget's figures with those folded in and
 * its window rolled to `now` (a SQL expression).
 */
function lockAndFold(name: string, where: string, now: string): string {
  return `${name}_row AS MATERIALIZED (
  SELECT b.id, b.scope, b.scope_key, b.period, b.limit_usd, b.spent_usd, b.reserved_usd, b.window_start
    FROM budgets b
   WHERE ${where}
   ORDER BY ${LOCK_ORDER}
     FOR UPDATE OF b
),
${name}_folded AS (
  DELETE FROM budget_pending_settlements p
   WHERE p.budget_id IN (SELECT id FROM ${name}_row)
  RETURNING p.budget_id, p.spend_usd, p.release_usd, p.window_start
),
${name}_fold AS MATERIALIZED (
  SELECT f.budget_id, f.window_start, sum(f.spend_usd) AS spend, sum(f.release_usd) AS release
    FROM ${name}_folded f GROUP BY f.budget_id, f.window_start
),
${name} AS MATERIALIZED (
  SELECT l.id, l.scope, l.scope_key, l.period, l.limit_usd, w.window_start,
         -- whether the row must be written back even if nothing new is held on it
         (w.window_start <> l.window_start OR EXISTS (SELECT 1 FROM ${name}_fold f WHERE f.budget_id = l.id)) AS changed,
         CASE WHEN w.window_start > l.window_start THEN 0 ELSE l.spent_usd END
           + COALESCE((SELECT sum(f.spend) FROM ${name}_fold f WHERE f.budget_id = l.id AND (f.window_start IS NULL OR f.window_start >= w.window_start)), 0) AS spent_usd,
         l.reserved_usd - COALESCE((SELECT sum(f.release) FROM ${name}_fold f WHERE f.budget_id = l.id), 0) AS reserved_usd
    FROM ${name}_row l
   CROSS JOIN LATERAL (
         SELECT GREATEST(${rolledWindow(now)}, (SELECT max(f.window_start) FROM ${name}_fold f WHERE f.budget_id = l.id)) AS window_start
   ) w
)`;
}

/**
 * `hit`: the requests of `source` (columns attempt_id, step_id, task_id, tenant_id,
 * attempt, actor, trace_id, cache_key) whose answer the response cache holds at `now`,
 * unless their task opted out, with the cached model and response; then each recorded as
 * a free ledger entry (llm_calls, cache_hit) with its `llm.cache_hit` audit event. An
 * attempt id recorded already is answered again but not recorded twice.
 */
function cacheHits(source: string, now: string): string {
  return `hit AS MATERIALIZED (
  SELECT r.attempt_id, r.step_id, r.task_id, r.tenant_id, r.attempt, r.actor, r.trace_id, r.cache_key, c.model, c.response
    FROM ${source} r
    JOIN llm_response_cache c ON c.key = r.cache_key AND c.tenant_id = r.tenant_id AND c.expires_at > ${now}
   WHERE EXISTS (SELECT 1 FROM tasks t WHERE t.id = r.task_id AND t.response_cache)
),
hit_call AS (
  INSERT INTO llm_calls (attempt_id, step_id, task_id, tenant_id, model, attempt, cost_usd, latency_ms, outcome, cache_hit, created_at)
  SELECT h.attempt_id, h.step_id, h.task_id, h.tenant_id, h.model, h.attempt, 0, 0, 'success', true, ${now}
    FROM hit h
  ON CONFLICT (attempt_id) DO NOTHING
  RETURNING attempt_id
),
hit_audit AS (
  INSERT INTO audit_events (tenant_id, actor, action, subject, task_id, trace_id, data)
  SELECT h.tenant_id, h.actor, 'llm.cache_hit', 'step:' || h.step_id::text, h.task_id, h.trace_id,
         jsonb_build_object('model', h.model, 'attempt', h.attempt, 'attemptId', h.attempt_id, 'costUsd', '0', 'cacheKey', h.cache_key)
    FROM hit_call c CROSS JOIN LATERAL (SELECT * FROM hit WHERE hit.attempt_id = c.attempt_id LIMIT 1) h
  RETURNING 1
)`;
}

/** What a statement with cacheHits answers: attempt id → the cached model and response. */
const HITS = `COALESCE((SELECT json_object_agg(attempt_id, json_build_object('model', model, 'response', response)) FROM hit), '{}'::json) AS hits`;

/**
 * The group a reserve statement decides: $1 attempt ids (distinct), $2 amounts,
 * $3 tenants, $4 tasks, $5 steps, $6 expiries, $7 models, $8 attempts, $9 actors,
 * $10 trace ids, $12 response-cache keys (null: hold without looking; arrays, one element
 * per attempt); `earlier`: those already in the ledger (replays); `hit`: the others whose
 * answer the response cache holds, answered from it instead of held (cacheHits);
 * `fresh`: the rest; `want`: each fresh attempt with each budget that applies to it
 * (global, its tenant's, its task's).
 *
 * The arrays are fenced (arrayRows), so Postgres keeps the generic plan instead of
 * planning every reservation afresh (0.9 ms, more than a reservation of one attempt takes
 * to run). The generic plan finds every row by index, for one attempt as for 64.
 */
const REQUEST_COLUMNS = ['attempt_id', 'amount', 'tenant_id', 'task_id', 'step_id', 'expires_at', 'model', 'attempt', 'actor', 'trace_id', 'cache_key'];
const REQUEST_ARRAYS = ['$1::text[]', '$2::numeric[]', '$3::uuid[]', '$4::uuid[]', '$5::uuid[]', '$6::timestamptz[]', '$7::text[]', '$8::int[]', '$9::text[]', '$10::text[]', '$12::text[]'];

/** The CTEs above for the request rows `source` yields (REQUEST_COLUMNS and `idx`, the arrival order). */
function requestsFrom(source: string): string {
  return `req AS MATERIALIZED (
  ${source}
),
earlier AS MATERIALIZED (
  SELECT s.attempt_id, s.state, s.amount_usd, s.budget_ids FROM spend_reservations s WHERE s.attempt_id IN (SELECT attempt_id FROM req)
),
${cacheHits('(SELECT * FROM req WHERE cache_key IS NOT NULL AND attempt_id NOT IN (SELECT attempt_id FROM earlier))', '$11::timestamptz')},
fresh AS MATERIALIZED (
  SELECT r.* FROM req r WHERE r.attempt_id NOT IN (SELECT attempt_id FROM earlier) AND r.attempt_id NOT IN (SELECT attempt_id FROM hit)
),
want AS MATERIALIZED (
  SELECT r.attempt_id, r.idx, r.amount, b.id AS budget_id, b.scope
    FROM fresh r JOIN budgets b ON b.scope_key IN ('global', 'tenant:' || r.tenant_id::text, 'task:' || r.task_id::text)
)`;
}

const REQUESTS = requestsFrom(arrayRows(REQUEST_ARRAYS, REQUEST_COLUMNS, 'idx'));

/** The reservation rows of `granted` (fresh attempts), each with the ids of its budgets. */
const INSERT_RESERVATIONS = (granted: string, now: string) => `INSERT INTO spend_reservations (attempt_id, step_id, task_id, tenant_id, budget_ids, amount_usd, expires_at, model, attempt, actor, trace_id, created_at)
  SELECT r.attempt_id, r.step_id, r.task_id, r.tenant_id, COALESCE(h.budget_ids, '{}'::uuid[]), r.amount, r.expires_at, r.model, r.attempt, r.actor, r.trace_id, ${now}
    FROM ${granted} r
    LEFT JOIN (SELECT attempt_id, array_agg(budget_id ORDER BY budget_id) AS budget_ids FROM want GROUP BY attempt_id) h ON h.attempt_id = r.attempt_id
  ON CONFLICT (attempt_id) DO NOTHING
  RETURNING attempt_id, budget_ids`;

/** What the statement answers: granted (attempt → budget ids), earlier (attempt → its state, amount, budgets) and hits (HITS). */
const GRANTED_AND_EARLIER = `COALESCE((SELECT json_object_agg(attempt_id, budget_ids::text[]) FROM reservation), '{}'::json) AS granted,
       COALESCE((SELECT json_object_agg(e.attempt_id, json_build_object('state', e.state, 'amountUsd', trim_scale(e.amount_usd)::text, 'budgetIds', e.budget_ids::text[]))
                   FROM earlier e), '{}'::json) AS earlier,
       ${HITS}`;

/** A budget's figures as JSON for a refusal (BudgetSnapshot). */
const SNAPSHOT_JSON = `json_build_object('id', n.id, 'scope', n.scope, 'scopeKey', n.scope_key, 'period', n.period,
                    'limitUsd', trim_scale(n.limit_usd)::text, 'spentUsd', trim_scale(n.spent_usd)::text,
                    'reservedUsd', trim_scale(n.reserved_usd)::text, 'fits', false)`;

/**
 * Reserves a group of attempts (one or more) against every budget that applies to each
 * (`global`, `tenant:<tenant>`, `task:<task>`), all or nothing per attempt, deciding each
 * exactly:
 *  - granted: its budgets still fit when every EARLIER attempt of the group that fits
 *    alone is counted on them (a running sum in arrival order), so all grants fit together;
 *  - denied: it does not fit even alone (granting others only makes that worse);
 *  - earlier: its attempt id is already in the ledger (a replay): its state is returned;
 *  - hit: the response cache holds its answer: returned, recorded, nothing held;
 *  - undecided (none of these): the caller submits it again, after this statement.
 * Arrays, one element per attempt: $1 attempt ids (distinct), $2 amounts, $3 tenants,
 * $4 tasks, $5 steps, $6 expiries, $7 models, $8 attempts, $9 actors, $10 trace ids,
 * $12 cache keys; $11 now. A locked budget is written back when it holds more, or had
 * settlements to fold in or a window to roll.
 */
export const RESERVE_SQL = `
WITH ${REQUESTS},
${lockAndFold('balance', 'b.id IN (SELECT budget_id FROM want)', '$11::timestamptz')},
alone AS MATERIALIZED (
  SELECT r.attempt_id, COALESCE(bool_and(n.spent_usd + n.reserved_usd + w.amount <= n.limit_usd), true) AS fits
    FROM fresh r LEFT JOIN want w ON w.attempt_id = r.attempt_id LEFT JOIN balance n ON n.id = w.budget_id
   GROUP BY r.attempt_id
),
running AS MATERIALIZED (
  SELECT w.attempt_id, w.budget_id, sum(w.amount) OVER (PARTITION BY w.budget_id ORDER BY w.idx) AS total
    FROM want w JOIN alone a ON a.attempt_id = w.attempt_id
   WHERE a.fits
),
crowded AS MATERIALIZED (
  SELECT DISTINCT u.attempt_id FROM running u JOIN balance n ON n.id = u.budget_id
   WHERE n.spent_usd + n.reserved_usd + u.total > n.limit_usd
),
granted AS MATERIALIZED (
  SELECT r.* FROM fresh r JOIN alone a ON a.attempt_id = r.attempt_id AND a.fits WHERE r.attempt_id NOT IN (SELECT attempt_id FROM crowded)
),
reservation AS (
  ${INSERT_RESERVATIONS('granted', '$11::timestamptz')}
),
held AS (
  UPDATE budgets b
     SET spent_usd = n.spent_usd, reserved_usd = n.reserved_usd + COALESCE(h.total, 0), window_start = n.window_start, updated_at = $11::timestamptz
    FROM balance n
    LEFT JOIN (SELECT w.budget_id, sum(w.amount) AS total FROM want w JOIN reservation s ON s.attempt_id = w.attempt_id GROUP BY w.budget_id) h ON h.budget_id = n.id
   WHERE b.id = n.id AND (h.total IS NOT NULL OR n.changed)
  RETURNING b.id
)
SELECT ${GRANTED_AND_EARLIER},
       COALESCE((SELECT json_object_agg(a.attempt_id, (SELECT json_agg(${SNAPSHOT_JSON} ORDER BY n.id)
                                                         FROM want w JOIN balance n ON n.id = w.budget_id
                                                        WHERE w.attempt_id = a.attempt_id AND n.spent_usd + n.reserved_usd + w.amount > n.limit_usd))
                   FROM alone a WHERE NOT a.fits), '{}'::json) AS denied,
       (SELECT count(*)::int FROM held) AS budgets`;

/** SQLSTATE of a fast reservation that could not grant its whole group (RESERVE_FAST_SQL). */
export const RESERVE_FAST_DECLINED = 'AT409';

/**
 * The common case, holding the budget rows for the shortest time: grants EVERY fresh
 * attempt of the group, or fails with SQLSTATE AT409 having changed nothing (the caller
 * then decides the group with RESERVE_SQL, which can also refuse). The reservation rows
 * are written first, before any budget row is locked; then the budget rows are locked
 * (the same order as everywhere: tasks, tenants, global), their pending settlements
 * folded in, and the group's totals checked against them and held. So the row every call
 * shares is held for little more than its update and the commit. Same parameters as
 * RESERVE_SQL.
 */
export const RESERVE_FAST_SQL = fastReservation(REQUESTS);

/**
 * RESERVE_FAST_SQL's body after `requests` (CTEs ending in `req`, `earlier`, `hit`,
 * `fresh` and `want`, see requestsFrom), answering `columns` (SQL) too.
 */
function fastReservation(requests: string, columns = ''): string {
  return `
WITH ${requests},
reservation AS (
  ${INSERT_RESERVATIONS('fresh', '$11::timestamptz')}
),
held_need AS MATERIALIZED (
  SELECT w.budget_id, sum(w.amount) AS total FROM want w JOIN reservation s ON s.attempt_id = w.attempt_id GROUP BY w.budget_id
),
-- The one-time condition on held_need runs first: every reservation row is written before a budget row is locked.
${lockAndFold('balance', 'b.id IN (SELECT budget_id FROM want) AND (SELECT count(*) FROM held_need) >= 0', '$11::timestamptz')},
fits AS MATERIALIZED (
  SELECT COALESCE(bool_and(n.spent_usd + n.reserved_usd + COALESCE(h.total, 0) <= n.limit_usd), true) AS ok
    FROM balance n LEFT JOIN held_need h ON h.budget_id = n.id
),
held AS (
  UPDATE budgets b
     SET spent_usd = n.spent_usd, reserved_usd = n.reserved_usd + COALESCE(h.total, 0), window_start = n.window_start, updated_at = $11::timestamptz
    FROM balance n
    LEFT JOIN held_need h ON h.budget_id = n.id
   WHERE b.id = n.id AND (h.total IS NOT NULL OR n.changed) AND (SELECT ok FROM fits)
  RETURNING b.id
)
SELECT ${GRANTED_AND_EARLIER},
       (SELECT count(*)::int FROM held) AS budgets,
       CASE WHEN (SELECT ok FROM fits) THEN true ELSE spend_ledger_decline_fast() END AS ok${columns}`;
}

/**
 * RESERVE_FAST_SQL for the first model call of steps that never ran, each reservation
 * claiming its step as well: one statement (and one commit) where a claim and then a
 * reservation take two, on the way of every step. A step is claimed, as the agent's own
 * claim would (running, attempt 1, leased to `owner` for `lease_ms`, its task started,
 * `step.started` in the audit trail), only if it is still queued and never ran, belongs
 * to `agent`, holds this `input` (JSON text, compared as jsonb: the handler built its
 * prompt from the dispatch's copy) and its task is neither over nor past its deadline;
 * only a claimed step's call is reserved (or answered from the cache). A step not claimed
 * has nothing written; the agent claims it the usual way to learn why. A group that does
 * not fit fails with AT409 having changed nothing, claims included.
 *
 * Locks are taken in the order every statement takes them: task rows, step rows (see the
 * agent's claim), then the reservation rows and the budget rows. The step's event is
 * written before any call's (a cache hit's), so the trail reads started, then the call.
 * Parameters: RESERVE_FAST_SQL's, then arrays $13 lease owners, $14 inputs, $15 agents,
 * $16 lease ms; answers `claimed` too: step id → its key, kind, dispatchSeq and deadlineAt.
 */
export const RESERVE_CLAIMING_SQL = fastReservation(
  `claim_req AS MATERIALIZED (
  ${arrayRows([...REQUEST_ARRAYS, '$13::text[]', '$14::text[]', '$15::text[]', '$16::int[]'], [...REQUEST_COLUMNS, 'owner', 'input', 'agent', 'lease_ms'], 'idx')}
),
task_lock AS (
  SELECT id FROM tasks WHERE id IN (SELECT task_id FROM claim_req) AND status::text = 'queued' ORDER BY id FOR NO KEY UPDATE
),
step_lock AS (
  -- The scalar subquery runs first (an init plan): the task rows are locked before any step row.
  SELECT id FROM steps WHERE id IN (SELECT step_id FROM claim_req) AND (SELECT count(*) FROM task_lock) >= 0 ORDER BY id FOR NO KEY UPDATE
),
claimed AS (
  UPDATE steps s SET status = 'running', attempt = 1, started_at = now(), updated_at = now(),
         lease_owner = r.owner, lease_until = now() + r.lease_ms * interval '1 millisecond'
    FROM claim_req r JOIN step_lock l ON l.id = r.step_id JOIN tasks t ON t.id = r.task_id
   WHERE s.id = r.step_id AND s.task_id = r.task_id AND s.agent = r.agent AND s.status::text = 'queued' AND s.attempt = 0
     AND s.input = r.input::jsonb AND t.status::text IN ('queued', 'running') AND (t.deadline_at IS NULL OR t.deadline_at > now())
  RETURNING s.id, s.task_id, s.key, s.kind, s.dispatch_seq, t.deadline_at
),
task_started AS (
  UPDATE tasks SET status = 'running', updated_at = now() WHERE id IN (SELECT task_id FROM claimed) AND status::text = 'queued'
),
claim_audit AS (
  INSERT INTO audit_events (actor, action, subject, tenant_id, task_id, trace_id, data)
  SELECT r.actor, 'step.started', 'step:' || c.id::text, r.tenant_id, r.task_id, r.trace_id, jsonb_build_object('key', c.key, 'kind', c.kind, 'attempt', 1)
    FROM claimed c JOIN claim_req r ON r.step_id = c.id
  RETURNING 1
),
${requestsFrom(`SELECT ${REQUEST_COLUMNS.map((column) => `r.${column}`).join(', ')}, r.idx FROM claim_req r
   -- The init plan on claim_audit runs first: the steps are claimed, and their events written, before anything is reserved.
   WHERE r.step_id IN (SELECT id FROM claimed) AND (SELECT count(*) FROM claim_audit) >= 0`)}`,
  `,
       COALESCE((SELECT json_object_agg(c.id, json_build_object('key', c.key, 'kind', c.kind, 'dispatchSeq', c.dispatch_seq, 'deadlineAt', c.deadline_at)) FROM claimed c), '{}'::json) AS claimed`,
);

/** The columns a settlement source yields, one row per attempt to settle. */
const SETTLEMENT_COLUMNS =
  'attempt_id, cost, state, outcome, input_tokens, output_tokens, cache_creation, cache_creation_1h, cache_read, latency_ms, request_id, error_type, cache_key, cache_expires_at, cache_response, audit_data';

/**
 * The CTEs that settle the attempts `source` yields (SETTLEMENT_COLUMNS): each reservation still held
 * takes its state and cost (NULL cost: its reserved amount, for an outcome nobody knows),
 * each budget it held is owed `spent += cost, reserved -= amount` (a pending settlement,
 * folded in by the budget's next locker), the attempt lands in the ledger (llm_calls,
 * unique attempt id) with its `llm.call` audit event unless its outcome is NULL (a call
 * never sent), and a successful answer is stored in the response cache when it has a key
 * and its task allows it. A cost above the reservation is recorded exactly and named in
 * the audit event (`overrunUsd`). All of it or none of it. No budget row is locked.
 * `now`, `actor` (NULL: each holder's) and `extra` (audit data) are SQL expressions.
 */
function settlementCtes(source: string, p: { now: string; actor: string; extra: string }): string {
  return `x (${SETTLEMENT_COLUMNS}) AS MATERIALIZED (
  ${source}
),
res AS (
  UPDATE spend_reservations r
     SET state = x.state, settled_usd = COALESCE(x.cost, r.amount_usd), settled_at = ${p.now}
    FROM x
   WHERE r.attempt_id = x.attempt_id
     -- state compared as text: through the (state, expires_at) index the planner would
     -- visit every hold in flight, since statistics count few; each is found by attempt id
     AND r.id IN (SELECT s.id FROM spend_reservations s
                   WHERE s.attempt_id IN (SELECT attempt_id FROM x) AND s.state::text = 'reserved'
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
         || CASE WHEN c.cost_usd > res.amount_usd THEN jsonb_build_object('overrunUsd', trim_scale(c.cost_usd - res.amount_usd)::text) ELSE '{}'::jsonb END
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
owed AS (
  INSERT INTO budget_pending_settlements (budget_id, spend_usd, release_usd, window_start, created_at)
  SELECT d.budget_id, sum(res.settled_usd), sum(res.amount_usd),
         -- read without a lock: a budget's period never changes, and a window start read
         -- a moment stale only puts a spend at a midnight in the window it happened in
         (SELECT CASE WHEN b.period = 'total' THEN NULL ELSE GREATEST(b.window_start, date_trunc(b.period::text, ${p.now}, 'UTC')) END
            FROM budgets b WHERE b.id = d.budget_id),
         ${p.now}
    FROM res CROSS JOIN LATERAL unnest(res.budget_ids) AS d(budget_id)
   GROUP BY d.budget_id
  RETURNING 1
)`;
}

/** What a settlement answers, from settlementCtes: attempt id → cost settled at, and → cost − reserved for those above their reservation. */
const SETTLED_AND_OVERRUNS = `COALESCE((SELECT json_object_agg(attempt_id, trim_scale(settled_usd)::text) FROM res), '{}'::json) AS settled,
       COALESCE((SELECT json_object_agg(attempt_id, trim_scale(settled_usd - amount_usd)::text) FROM res WHERE settled_usd > amount_usd), '{}'::json) AS overruns`;

/** A whole settlement statement: `ctes` (settlementCtes), answering SETTLED_AND_OVERRUNS and how many rows each part wrote. */
function settleSql(ctes: string): string {
  return `
WITH ${ctes}
SELECT ${SETTLED_AND_OVERRUNS},
       (SELECT count(*)::int FROM call) AS recorded,
       (SELECT count(*)::int FROM call_audit) AS audited,
       (SELECT count(*)::int FROM cached) AS cached,
       (SELECT count(*)::int FROM owed) AS owed`;
}

/** The types of the settlement arrays, in SETTLEMENT_COLUMNS order. */
const SETTLEMENT_ARRAY_TYPES = ['text', 'numeric', 'reservation_state', 'llm_call_outcome', 'int', 'int', 'int', 'int', 'int', 'int', 'text', 'text', 'text', 'timestamptz', 'jsonb', 'jsonb'];

/** How many arrays a settlement statement takes (one per column of SETTLEMENT_COLUMNS). */
export const SETTLEMENT_ARRAY_COUNT = SETTLEMENT_ARRAY_TYPES.length;

/**
 * settlementCtes for settlements given as arrays (SETTLEMENT_COLUMNS order) in parameters
 * $first .. $first+15, now in the next one; each `llm.call` event is by its holder.
 */
function settlementCtesFromArrays(first: number): string {
  const source = arrayRows(SETTLEMENT_ARRAY_TYPES.map((type, i) => `$${first + i}::${type}[]`), SETTLEMENT_COLUMNS.split(', '));
  return settlementCtes(source, { now: `$${first + SETTLEMENT_ARRAY_COUNT}::timestamptz`, actor: 'NULL::text', extra: 'NULL::jsonb' });
}

/**
 * Settles a group of attempts; arrays, one element per attempt ($1..$16 in the order of
 * SETTLEMENT_COLUMNS, with $3 reservation states and $4 call outcomes, NULL: never sent,
 * and $16 extra audit data of the `llm.call` event, e.g. captured prompt and response);
 * $17 now. Attempts no longer held (settled by the sweeper, or a replay) are left alone.
 */
export const SETTLE_SQL = settleSql(settlementCtesFromArrays(1));

/**
 * For another statement to settle attempts in its own transaction (the statement that
 * ends a step's attempt settles the attempt's last model call): `ctes` to put in its WITH
 * (they define `res`, the settled reservations, and `call_audit`, the `llm.call` events
 * written), reading 17 parameters from $first, the 16 arrays then now (as
 * SpendLedger.carriedSettlementParams gives them), and `columns` for its answer: `settled`
 * and `overruns` (as SpendLedger.carriedSettlementResults reads them).
 */
export function carriedSettlementSql(first: number): { ctes: string; columns: string } {
  return { ctes: settlementCtesFromArrays(first), columns: SETTLED_AND_OVERRUNS };
}

/**
 * Settles up to $1 reservations whose holder outlived their TTL (expires_at < $2) as
 * unknown outcomes at their reserved amount, audited by actor $3 with extra data $4.
 * SKIP LOCKED: replicas sweep disjoint rows, and a holder settling right now is never
 * waited on.
 */
export const SWEEP_SQL = settleSql(settlementCtes(
  `SELECT s.attempt_id, NULL::numeric, 'unknown_outcome'::reservation_state, 'unknown'::llm_call_outcome, 0, 0, 0, 0, 0,
          NULL::int, NULL::text, 'holder_lost'::text, NULL::text, NULL::timestamptz, NULL::jsonb, NULL::jsonb
     FROM spend_reservations s
    WHERE s.state = 'reserved' AND s.expires_at < $2::timestamptz
    ORDER BY s.expires_at
    LIMIT $1::int
      FOR UPDATE SKIP LOCKED`,
  { now: '$2::timestamptz', actor: '$3::text', extra: '$4::jsonb' },
));

/**
 * Folds the pending settlements of up to $1 budgets into their rows at clock $2, locking
 * them in the same order as a reservation does. Housekeeping: it makes the rows exact
 * again when no reservation comes along (budget_balances is exact either way).
 */
export const FOLD_SQL = `
WITH due AS MATERIALIZED (
  SELECT DISTINCT p.budget_id FROM budget_pending_settlements p LIMIT $1::int
),
${lockAndFold('balance', 'b.id IN (SELECT budget_id FROM due)', '$2::timestamptz')},
upd AS (
  UPDATE budgets b
     SET spent_usd = n.spent_usd, reserved_usd = n.reserved_usd, window_start = n.window_start, updated_at = $2::timestamptz
    FROM balance n
   WHERE b.id = n.id
  RETURNING b.id
)
SELECT (SELECT count(*)::int FROM upd) AS folded, (SELECT count(*)::int FROM due) AS due`;

/**
 * Raises the alerts of every budget changed since $2 whose spend in the current window
 * (at clock $1) has reached one of its thresholds: an outbox row (budget_alerts, once per
 * budget, window and threshold) and its `budget.alert` audit event by actor $3.
 * Read from budget_balances, so a threshold counts the moment the money is settled, folded
 * or not.
 */
export const ALERTS_SQL = `
WITH reached AS MATERIALIZED (
  SELECT n.id, n.tenant_id, n.task_id, n.scope, n.scope_key, n.period, t.threshold, n.window_start, n.limit_usd, n.spent_usd
    FROM budget_balances n
   CROSS JOIN LATERAL unnest(n.alert_thresholds) AS t(threshold)
   WHERE n.updated_at >= $2::timestamptz
     AND n.spent_usd > 0
     AND n.spent_usd * 100 >= t.threshold * n.limit_usd
     AND (n.period = 'total' OR n.window_start >= date_trunc(n.period::text, $1::timestamptz, 'UTC'))
),
fired AS (
  INSERT INTO budget_alerts (budget_id, tenant_id, task_id, scope, scope_key, period, threshold, window_start, limit_usd, spent_usd, created_at, next_attempt_at)
  SELECT r.id, r.tenant_id, r.task_id, r.scope, r.scope_key, r.period, r.threshold, r.window_start, r.limit_usd, r.spent_usd, $1::timestamptz, $1::timestamptz
    FROM reached r
  ON CONFLICT (budget_id, window_start, threshold) DO NOTHING
  RETURNING id, budget_id, tenant_id, task_id, scope, scope_key, period, threshold, limit_usd, spent_usd, window_start
),
alert_audit AS (
  INSERT INTO audit_events (tenant_id, actor, action, subject, task_id, data)
  SELECT f.tenant_id, $3::text, 'budget.alert', 'budget:' || f.budget_id::text, f.task_id,
         jsonb_build_object('alertId', f.id, 'scope', f.scope, 'scopeKey', f.scope_key, 'period', f.period,
                            'threshold', f.threshold, 'limitUsd', trim_scale(f.limit_usd)::text,
                            'spentUsd', trim_scale(f.spent_usd)::text, 'windowStart', f.window_start)
    FROM fired f
  RETURNING 1
)
SELECT COALESCE((SELECT json_agg(json_build_object(
                   'id', f.id, 'budgetId', f.budget_id, 'scope', f.scope, 'scopeKey', f.scope_key, 'period', f.period,
                   'threshold', f.threshold, 'limitUsd', trim_scale(f.limit_usd)::text, 'spentUsd', trim_scale(f.spent_usd)::text))
                   FROM fired f), '[]'::json) AS alerts,
       (SELECT count(*)::int FROM alert_audit) AS alert_events`;

/**
 * Response-cache lookups of a group of calls, and the hits recorded, in one statement:
 * each call's answer for its key (unexpired at $9, and only if its task allows the cache)
 * lands in the ledger at cost 0 under its attempt id, with its `llm.cache_hit` audit
 * event (once per attempt id, however often the group names it). Arrays, one entry per
 * call: $1 key, $2 attempt id, $3 tenant, $4 task, $5 step, $6 attempt, $7 actor, $8 trace id.
 */
export const CACHE_HIT_SQL = `
WITH req AS MATERIALIZED (
  ${arrayRows(['$1::text[]', '$2::text[]', '$3::uuid[]', '$4::uuid[]', '$5::uuid[]', '$6::int[]', '$7::text[]', '$8::text[]'], ['cache_key', 'attempt_id', 'tenant_id', 'task_id', 'step_id', 'attempt', 'actor', 'trace_id'])}
),
${cacheHits('req', '$9::timestamptz')}
SELECT h.attempt_id, h.model, h.response FROM hit h`;
