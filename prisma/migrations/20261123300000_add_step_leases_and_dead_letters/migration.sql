-- AlterTable
ALTER TABLE "steps" ADD COLUMN     "attempt_base" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "dead_lettered_at" TIMESTAMPTZ(3),
ADD COLUMN     "dispatch_seq" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN     "lease_owner" TEXT,
ADD COLUMN     "lease_until" TIMESTAMPTZ(3);
