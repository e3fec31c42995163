-- The hash chain moves out of audit_events into a narrow table of its own, so an event is
-- never updated after its insert. Sealing used to UPDATE each event: a rewrite of the
-- whole row (captured prompts in `data`) that could not be HOT (chain_pos and prev_hash
-- are indexed), so every index of the table got a new entry, and the append-only trigger
-- compared the whole old and new rows as jsonb. That was the largest Postgres cost per
-- task (bench/RESULTS.md). A seal is now one small INSERT per event into audit_chain.
-- Raw SQL: Prisma has no word for triggers or grants.

-- The sealer's lock (SEALER_LOCK_KEY), held to the end of this migration: a sealer of the
-- old layout still running during a rolling upgrade cannot seal after the copy below.
SELECT pg_advisory_xact_lock(7022629598042221682);

-- Would the new sealer ever reach every event still unsealed? It continues after the
-- chain's last event in (tx_id, seq) order, which is where the old sealer left every
-- unsealed event (it sealed in that order, below a horizon no later commit can cross). An
-- unsealed event sorting before the head can only come from tampering; it would stay
-- unsealed for good, so stop here and let an operator look.
DO $$
BEGIN
    IF EXISTS (
        SELECT FROM audit_events e,
               (SELECT tx_id, seq FROM audit_events WHERE chain_pos IS NOT NULL ORDER BY chain_pos DESC LIMIT 1) head
         WHERE e.chain_pos IS NULL AND (e.tx_id, e.seq) < (head.tx_id, head.seq)
    ) THEN
        RAISE EXCEPTION 'audit_events holds unsealed events that sort before the chain''s head in (tx_id, seq) order; the sealer would never reach them'
            USING HINT = 'List them with: SELECT seq FROM audit_events WHERE chain_pos IS NULL ORDER BY tx_id, seq (docs/audit.md).';
    END IF;
END;
$$;

-- One row per sealed event. No foreign key to audit_events: checking one takes a KEY SHARE
-- lock on the event row, which writes to it, the very write this table exists to avoid;
-- verification reads every position through a join, so an event or a link removed behind
-- the database's back shows as a missing position.
CREATE TABLE "audit_chain" (
    "chain_pos" BIGINT NOT NULL,
    "seq" BIGINT NOT NULL,
    "prev_hash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "audit_chain_pkey" PRIMARY KEY ("chain_pos"),
    CONSTRAINT "audit_chain_chain_pos_check" CHECK ("chain_pos" >= 1),
    CONSTRAINT "audit_chain_hashes_check" CHECK ("prev_hash" ~ '^[0-9a-f]{64}$' AND "hash" ~ '^[0-9a-f]{64}$')
);
-- An event is sealed once.
CREATE UNIQUE INDEX "audit_chain_seq_key" ON "audit_chain" ("seq");
-- A fork (two positions claiming the same predecessor) is impossible, not just detectable.
CREATE UNIQUE INDEX "audit_chain_prev_hash_key" ON "audit_chain" ("prev_hash");

INSERT INTO "audit_chain" ("chain_pos", "seq", "prev_hash", "hash")
SELECT "chain_pos", "seq", "prev_hash", "hash" FROM "audit_events" WHERE "chain_pos" IS NOT NULL;

ALTER TABLE "audit_events" DROP CONSTRAINT "audit_events_chain_columns_check";
DROP INDEX "audit_events_chain_pos_key";
DROP INDEX "audit_events_prev_hash_key";
DROP INDEX "audit_events_unsealed_idx";
ALTER TABLE "audit_events" DROP COLUMN "chain_pos", DROP COLUMN "prev_hash", DROP COLUMN "hash";

-- The sealer's work list: the events after the chain's last one in (tx_id, seq) order,
-- which is the chain order (apps/orchestrator/src/audit/audit-sealer.ts).
CREATE INDEX "audit_events_tx_id_seq_idx" ON "audit_events" ("tx_id", "seq");

-- Nothing changes an event once written, whoever connects: the one write the sealer used
-- to make is gone. (A superuser can still disable triggers: that is what the chain is for.)
CREATE OR REPLACE FUNCTION "audit_events_append_only"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events are never changed or removed; the sealer writes the chain to audit_chain.';
END;
$$;

-- Events enter stamped by the database: a writer can neither choose its tx_id (which
-- decides when, and in what order, the sealer takes it) nor backdate it (occurred_at is
-- the database's clock at insert, to the microsecond, whatever the client sent).
CREATE OR REPLACE FUNCTION "audit_events_insert_unsealed"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW."tx_id" := pg_current_xact_id();
    NEW."occurred_at" := clock_timestamp();
    RETURN NEW;
END;
$$;

-- A seal is final: rows of the chain are inserted, never changed or removed.
CREATE FUNCTION "audit_chain_append_only"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_chain is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'A seal is final: the sealer only inserts into audit_chain.';
END;
$$;

CREATE TRIGGER "audit_chain_append_only_rows"
    BEFORE UPDATE OR DELETE ON "audit_chain"
    FOR EACH ROW EXECUTE FUNCTION "audit_chain_append_only"();

CREATE TRIGGER "audit_chain_append_only_truncate"
    BEFORE TRUNCATE ON "audit_chain"
    FOR EACH STATEMENT EXECUTE FUNCTION "audit_chain_append_only"();

-- The application's role (docs/audit.md, "Database roles"): it reads and writes the other
-- tables, but may only INSERT audit events and INSERT seals: no UPDATE, DELETE or TRUNCATE
-- of either table, and (not being the owner) no way to drop their triggers. The whole
-- grant set is repeated here, so an operator who creates atelier_app after migrating runs
-- this one block to give it its rights. Where roles cannot be created (managed databases
-- without CREATEROLE) this step only leaves a notice, and the triggers still hold.
DO $$
DECLARE
    target_schema text := quote_ident(current_schema());
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'atelier_app') THEN
        BEGIN
            CREATE ROLE "atelier_app" NOLOGIN;
        EXCEPTION
            -- Another database on this server created it at the same moment.
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'role atelier_app not created (no CREATEROLE privilege); grants skipped, see docs/audit.md';
                RETURN;
        END;
    END IF;
    BEGIN
        EXECUTE format('GRANT USAGE ON SCHEMA %s TO "atelier_app"', target_schema);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %s TO "atelier_app"', target_schema);
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %s TO "atelier_app"', target_schema);
        -- Tables later migrations create (as this same owner) get the same rights.
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %s GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "atelier_app"', target_schema);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %s GRANT USAGE, SELECT ON SEQUENCES TO "atelier_app"', target_schema);
        REVOKE ALL ON "_prisma_migrations" FROM "atelier_app";
        -- Also takes back the column grant UPDATE (chain_pos, prev_hash, hash) of the old layout.
        REVOKE ALL ON "audit_events" FROM "atelier_app";
        GRANT SELECT, INSERT ON "audit_events" TO "atelier_app";
        REVOKE ALL ON "audit_chain" FROM "atelier_app";
        GRANT SELECT, INSERT ON "audit_chain" TO "atelier_app";
    EXCEPTION
        WHEN insufficient_privilege THEN
            RAISE NOTICE 'grants to atelier_app skipped (%); see docs/audit.md', SQLERRM;
    END;
END;
$$;
