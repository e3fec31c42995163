-- Issue 4: the audit trail is append-only and sealed into a SHA-256 hash chain
-- (docs/audit.md). Raw SQL: Prisma has no word for xid8 defaults, partial indexes,
-- triggers or grants.

-- The id of the transaction that inserted the event. The sealer takes only events of
-- transactions older than every transaction of this database still in progress: nothing
-- can commit later with a smaller (tx_id, seq), so the chain order (tx_id, seq) is final
-- the moment an event is sealed, and a seq still held by an open transaction is never
-- sealed past (apps/orchestrator/src/audit/audit-sealer.ts).
ALTER TABLE "audit_events" ADD COLUMN "tx_id" xid8 NOT NULL DEFAULT pg_current_xact_id();

-- The sealer's work list: small, because sealed rows leave it.
CREATE INDEX "audit_events_unsealed_idx" ON "audit_events" ("tx_id", "seq") WHERE "chain_pos" IS NULL;
-- Filters of GET /v1/audit.
CREATE INDEX "audit_events_actor_seq_idx" ON "audit_events" ("actor", "seq");
CREATE INDEX "audit_events_occurred_at_idx" ON "audit_events" ("occurred_at");
-- A fork (two events claiming the same predecessor) is impossible, not just detectable.
CREATE UNIQUE INDEX "audit_events_prev_hash_key" ON "audit_events" ("prev_hash");

ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_chain_columns_check" CHECK (
    ("chain_pos" IS NULL AND "prev_hash" IS NULL AND "hash" IS NULL)
    OR ("chain_pos" >= 1 AND "prev_hash" ~ '^[0-9a-f]{64}$' AND "hash" ~ '^[0-9a-f]{64}$')
);

-- Append-only, whoever connects: UPDATE, DELETE and TRUNCATE are refused, except the one
-- write the sealer makes, filling the three chain columns of an unsealed event and
-- changing nothing else. (A superuser can still disable triggers: that is what the hash
-- chain is for.)
CREATE FUNCTION "audit_events_append_only"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD."chain_pos" IS NULL AND OLD."prev_hash" IS NULL AND OLD."hash" IS NULL
       AND NEW."chain_pos" IS NOT NULL
       AND (to_jsonb(NEW) - ARRAY['chain_pos', 'prev_hash', 'hash']) = (to_jsonb(OLD) - ARRAY['chain_pos', 'prev_hash', 'hash'])
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Only the sealer may fill chain_pos, prev_hash and hash of an unsealed event, once.';
END;
$$;

CREATE TRIGGER "audit_events_append_only_rows"
    BEFORE UPDATE OR DELETE ON "audit_events"
    FOR EACH ROW EXECUTE FUNCTION "audit_events_append_only"();

CREATE TRIGGER "audit_events_append_only_truncate"
    BEFORE TRUNCATE ON "audit_events"
    FOR EACH STATEMENT EXECUTE FUNCTION "audit_events_append_only"();

-- Events enter unsealed and stamped by the database: a writer can neither claim a chain
-- position (which would fork or break the chain), nor choose its tx_id (which decides
-- when, and in what order, the sealer takes it), nor backdate it (occurred_at is the
-- database's clock at insert, to the microsecond, whatever the client sent).
CREATE FUNCTION "audit_events_insert_unsealed"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW."chain_pos" IS NOT NULL OR NEW."prev_hash" IS NOT NULL OR NEW."hash" IS NOT NULL THEN
        RAISE EXCEPTION 'audit events are inserted unsealed: chain_pos, prev_hash and hash are set by the sealer'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW."tx_id" := pg_current_xact_id();
    NEW."occurred_at" := clock_timestamp();
    RETURN NEW;
END;
$$;

CREATE TRIGGER "audit_events_insert_unsealed"
    BEFORE INSERT ON "audit_events"
    FOR EACH ROW EXECUTE FUNCTION "audit_events_insert_unsealed"();

-- The application's role. Migrations run as the owner of the tables; the services connect
-- as a login role that is a member of atelier_app (docs/audit.md, "Database roles"), which
-- may read and write the other tables but only INSERT audit events and fill their chain
-- columns: no UPDATE of anything else, no DELETE, no TRUNCATE, and (not being the owner)
-- no way to drop the trigger. Where roles cannot be created (managed databases without
-- CREATEROLE) this step only leaves a notice, and the trigger still holds.
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
        REVOKE UPDATE, DELETE, TRUNCATE ON "audit_events" FROM "atelier_app";
        GRANT UPDATE ("chain_pos", "prev_hash", "hash") ON "audit_events" TO "atelier_app";
    EXCEPTION
        WHEN insufficient_privilege THEN
            RAISE NOTICE 'grants to atelier_app skipped (%); see docs/audit.md', SQLERRM;
    END;
END;
$$;
