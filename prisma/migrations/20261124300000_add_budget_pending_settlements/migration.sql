-- Issue 3: settlements leave the hot budget rows alone (libs/persistence/src/spend).
--
-- A settlement no longer locks its budgets (the global row is shared by every model
-- call): it records what each budget must take in this table, in the same transaction
-- as its ledger row. Whoever next locks the budget (the next reservation on it, or the
-- orchestrator's housekeeping) folds these rows into it. Until then the budget row
-- over-states spent + reserved (a settlement always releases at least what it spends),
-- which is on the safe side of the cap; budget_balances shows the exact figures.

-- CreateTable
CREATE TABLE "budget_pending_settlements" (
    "id" BIGSERIAL NOT NULL,
    "budget_id" UUID NOT NULL,
    "spend_usd" DECIMAL(24,12) NOT NULL,
    "release_usd" DECIMAL(24,12) NOT NULL,
    "window_start" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "budget_pending_settlements_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "budget_pending_settlements_budget_id_idx" ON "budget_pending_settlements"("budget_id");

-- No foreign key to budgets, on purpose: its check would take a KEY SHARE lock on the
-- budget row for every settlement, and those multixact locks on the hottest row of the
-- database made concurrent reservations deadlock (and wait). Rows are only ever written
-- for budgets a reservation held; a deleted budget takes its rows with it (trigger).
CREATE FUNCTION "budget_pending_settlements_follow_budget"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM "budget_pending_settlements" WHERE "budget_id" = OLD."id";
    RETURN OLD;
END;
$$;

CREATE TRIGGER "budget_pending_settlements_follow_budget"
    AFTER DELETE ON "budgets"
    FOR EACH ROW EXECUTE FUNCTION "budget_pending_settlements_follow_budget"();

ALTER TABLE "budget_pending_settlements" ADD CONSTRAINT "budget_pending_settlements_amounts_non_negative"
    CHECK ("spend_usd" >= 0 AND "release_usd" >= 0);

-- Each budget's exact money at any instant, as an auditor reads it in one snapshot: the
-- row folded with the settlements not yet folded into it. `window_start` is the latest
-- window with spend recorded (a day or month budget's settlements from an ended window
-- no longer count as spent; their release still does). Readers that know "now" treat a
-- window that has since ended as empty (budget-window.ts).
CREATE VIEW "budget_balances" AS
SELECT b."id", b."scope", b."scope_key", b."tenant_id", b."task_id", b."period", b."limit_usd", b."alert_thresholds",
       GREATEST(b."window_start", p."latest_window") AS "window_start",
       CASE WHEN p."latest_window" > b."window_start" THEN 0 ELSE b."spent_usd" END + COALESCE(p."spend", 0) AS "spent_usd",
       b."reserved_usd" - COALESCE(p."release", 0) AS "reserved_usd",
       b."updated_at"
  FROM "budgets" b
  LEFT JOIN LATERAL (
       SELECT max(q."window_start") AS "latest_window", sum(q."release_usd") AS "release",
              sum(q."spend_usd") FILTER (WHERE q."window_start" IS NULL OR q."window_start" >= GREATEST(b."window_start", q."latest")) AS "spend"
         FROM (SELECT s."window_start", s."spend_usd", s."release_usd", max(s."window_start") OVER () AS "latest"
                 FROM "budget_pending_settlements" s WHERE s."budget_id" = b."id") q
  ) p ON true;

-- A fast reservation (RESERVE_FAST_SQL) grants its whole group or nothing: when the group
-- does not fit it aborts with this SQLSTATE, and the ledger decides the group exactly.
CREATE FUNCTION "spend_ledger_decline_fast"() RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the group does not all fit: it is decided by the exact reservation statement' USING ERRCODE = 'AT409';
END;
$$;
