-- AlterTable
ALTER TABLE "steps" ADD COLUMN     "attempt_base" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "dead_lettered_at" TIMESTAMPTZ(3),
ADD COLUMN     "dispatch_seq" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN     "lease_owner" TEXT,
ADD COLUMN     "lease_until" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "steps_status_dead_lettered_at_id_idx" ON "steps"("status", "dead_lettered_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "tasks_status_deadline_at_idx" ON "tasks"("status", "deadline_at");
