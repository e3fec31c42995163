-- A seal must continue the chain where it ends: position n + 1 links to position n's hash,
-- and its event is the very next one after position n's in the chain order (tx_id, seq).
-- The sealer only ever writes such seals (it takes the events after the head, in order,
-- below the horizon: docs/audit.md). Whoever else may INSERT into audit_chain (the
-- application's role) could otherwise seal a later event next, and the events in between
-- would stay out of the chain for good, since sealing continues after the head; with the
-- chain columns on audit_events, such events were still sealed later.
--
-- Checked once per statement over the links it inserted, in position order, one index
-- probe per link (the first event after the previous link's): a set-based join of the
-- transition table, which has no statistics, planned hash joins over every event instead.
CREATE FUNCTION "audit_chain_continues"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    link record;
    previous_pos bigint;
    previous_hash text;
    previous_tx xid8;
    previous_seq bigint;
    next_seq bigint;
    next_tx xid8;
BEGIN
    FOR link IN SELECT "chain_pos", "seq", "prev_hash", "hash" FROM new_links ORDER BY "chain_pos" LOOP
        IF previous_pos IS NULL OR link."chain_pos" <> previous_pos + 1 THEN
            -- The predecessor is already in the table (the head, for the sealer's batches).
            IF link."chain_pos" = 1 THEN
                previous_hash := repeat('0', 64);
                previous_tx := NULL;
            ELSE
                SELECT c."hash", e."tx_id", e."seq" INTO previous_hash, previous_tx, previous_seq
                  FROM "audit_chain" c JOIN "audit_events" e ON e."seq" = c."seq"
                 WHERE c."chain_pos" = link."chain_pos" - 1;
                IF NOT FOUND THEN
                    previous_hash := NULL;
                END IF;
            END IF;
        END IF;
        IF previous_tx IS NULL THEN
            SELECT "seq", "tx_id" INTO next_seq, next_tx FROM "audit_events" ORDER BY "tx_id", "seq" LIMIT 1;
        ELSE
            SELECT "seq", "tx_id" INTO next_seq, next_tx FROM "audit_events"
             WHERE ("tx_id", "seq") > (previous_tx, previous_seq) ORDER BY "tx_id", "seq" LIMIT 1;
        END IF;
        IF previous_hash IS NULL OR link."prev_hash" <> previous_hash OR next_seq IS DISTINCT FROM link."seq" THEN
            RAISE EXCEPTION 'audit_chain position % does not continue the chain: a seal links to the previous position''s hash and seals the next event after its event in (tx_id, seq) order', link."chain_pos"
                USING ERRCODE = 'integrity_constraint_violation',
                      HINT = 'Only the sealer writes audit_chain (docs/audit.md).';
        END IF;
        previous_pos := link."chain_pos";
        previous_hash := link."hash";
        previous_tx := next_tx;
        previous_seq := next_seq;
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER "audit_chain_continues"
    AFTER INSERT ON "audit_chain"
    REFERENCING NEW TABLE AS new_links
    FOR EACH STATEMENT EXECUTE FUNCTION "audit_chain_continues"();
