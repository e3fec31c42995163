-- Issue 7: where the broker stored each step's latest dispatch message (its agent
-- stream's sequence number, from the publish acknowledgement). The relay reads the
-- message at that sequence to tell a message still waiting in a backlog from one the
-- broker lost, so a lost step is published again without waiting for the stream to drain.
-- Not indexed: only read for the few steps the relay already suspects.

-- AlterTable
ALTER TABLE "steps" ADD COLUMN "dispatch_stream_seq" BIGINT;
