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
       w."window_start",
       CASE WHEN w."window_start" > b."window_start" THEN 0 ELSE b."spent_usd" END
         + COALESCE((SELECT sum(p."spend_usd") FROM "budget_pending_settlements" p
                      WHERE p."budget_id" = b."id" AND (p."window_start" IS NULL OR p."window_start" >= w."window_start")), 0) AS "spent_usd",
       b."reserved_usd" - COALESCE((SELECT sum(p."release_usd") FROM "budget_pending_settlements" p WHERE p."budget_id" = b."id"), 0) AS "reserved_usd",
       b."updated_at"
  FROM "budgets" b
 CROSS JOIN LATERAL (
       SELECT GREATEST(b."window_start", (SELECT max(p."window_start") FROM "budget_pending_settlements" p WHERE p."budget_id" = b."id")) AS "window_start"
 ) w;
