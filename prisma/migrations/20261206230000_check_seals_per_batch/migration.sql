-- Checking seals cost more than writing them: per batch of 600 seals the two regular
-- expressions of audit_chain_hashes_check took about 6 ms and the continuity trigger,
-- one index probe per link, about 5 ms, against 7 ms for the rows and their indexes
-- (bench/RESULTS.md, session 18). Same rules, cheaper checks.

-- The same rule as '^[0-9a-f]{64}$': 64 characters, every one a lower-case hex digit
-- (ltrim strips the leading characters of the set, so only such a string leaves nothing).
ALTER TABLE "audit_chain" DROP CONSTRAINT "audit_chain_hashes_check";
ALTER TABLE "audit_chain" ADD CONSTRAINT "audit_chain_hashes_check" CHECK (
    length("prev_hash") = 64 AND ltrim("prev_hash", '0123456789abcdef') = ''
    AND length("hash") = 64 AND ltrim("hash", '0123456789abcdef') = ''
) NOT VALID;
-- Every row already met the old form of the rule; validating takes no lock that stops the sealer.
ALTER TABLE "audit_chain" VALIDATE CONSTRAINT "audit_chain_hashes_check";

-- The rule is unchanged (see 20261206170000_make_each_seal_continue_the_chain): position
-- n + 1 links to position n's hash and seals the very next event after position n's in
-- (tx_id, seq) order. A statement's links must therefore be consecutive positions right
-- after one already in the table (or from position 1), and seal the events right after
-- that position's event, in order: read with one range scan of the (tx_id, seq) index for
-- the whole statement, then compared link by link in memory.
CREATE OR REPLACE FUNCTION "audit_chain_continues"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    positions bigint[];
    seqs bigint[];
    prev_hashes text[];
    hashes text[];
    following bigint[];
    previous_hash text;
    previous_tx xid8;
    previous_seq bigint;
BEGIN
    SELECT array_agg("chain_pos" ORDER BY "chain_pos"), array_agg("seq" ORDER BY "chain_pos"),
           array_agg("prev_hash" ORDER BY "chain_pos"), array_agg("hash" ORDER BY "chain_pos")
      INTO positions, seqs, prev_hashes, hashes
      FROM new_links;
    IF positions IS NULL THEN
        RETURN NULL;
    END IF;
    IF positions[1] = 1 THEN
        previous_hash := repeat('0', 64);
        following := ARRAY(SELECT "seq" FROM "audit_events" ORDER BY "tx_id", "seq" LIMIT cardinality(positions));
    ELSE
        -- The predecessor must be in the table, and its event too.
        SELECT c."hash", e."tx_id", e."seq" INTO previous_hash, previous_tx, previous_seq
          FROM "audit_chain" c JOIN "audit_events" e ON e."seq" = c."seq"
         WHERE c."chain_pos" = positions[1] - 1;
        IF FOUND THEN
            following := ARRAY(
                SELECT "seq" FROM "audit_events"
                 WHERE ("tx_id", "seq") > (previous_tx, previous_seq)
                 ORDER BY "tx_id", "seq" LIMIT cardinality(positions));
        END IF;
    END IF;
    FOR i IN 1 .. cardinality(positions) LOOP
        -- A missing predecessor, a gap in the positions, a broken link or another event than the next one.
        IF previous_hash IS NULL OR positions[i] <> positions[1] + i - 1 OR prev_hashes[i] <> previous_hash
           OR following[i] IS DISTINCT FROM seqs[i] THEN
            RAISE EXCEPTION 'audit_chain position % does not continue the chain: a seal links to the previous position''s hash and seals the next event after its event in (tx_id, seq) order', positions[i]
                USING ERRCODE = 'integrity_constraint_violation',
                      HINT = 'Only the sealer writes audit_chain (docs/audit.md).';
        END IF;
        previous_hash := hashes[i];
    END LOOP;
    RETURN NULL;
END;
$$;
