-- CreateEnum
CREATE TYPE "budget_alert_state" AS ENUM ('pending', 'delivered', 'failed', 'skipped');

-- AlterTable
ALTER TABLE "tasks" ADD COLUMN     "response_cache" BOOLEAN NOT NULL DEFAULT true;

-- AlterTable
ALTER TABLE "llm_calls" ADD COLUMN     "cache_creation_1h_input_tokens" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "cache_hit" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "reserved_usd" DECIMAL(24,12);

-- AlterTable
ALTER TABLE "spend_reservations" ADD COLUMN     "actor" TEXT,
ADD COLUMN     "attempt" INTEGER,
ADD COLUMN     "model" TEXT,
ADD COLUMN     "trace_id" TEXT;

-- CreateTable
CREATE TABLE "budget_alerts" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "budget_id" UUID NOT NULL,
    "tenant_id" UUID,
    "task_id" UUID,
    "scope" "budget_scope" NOT NULL,
    "scope_key" TEXT NOT NULL,
    "period" "budget_period" NOT NULL,
    "threshold" INTEGER NOT NULL,
    "window_start" TIMESTAMPTZ(3) NOT NULL,
    "limit_usd" DECIMAL(24,12) NOT NULL,
    "spent_usd" DECIMAL(24,12) NOT NULL,
    "state" "budget_alert_state" NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "delivered_at" TIMESTAMPTZ(3),
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "budget_alerts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "llm_response_cache" (
    "key" TEXT NOT NULL,
    "tenant_id" UUID NOT NULL,
    "model" TEXT NOT NULL,
    "response" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "llm_response_cache_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "budget_alerts_state_next_attempt_at_idx" ON "budget_alerts"("state", "next_attempt_at");

-- CreateIndex
CREATE UNIQUE INDEX "budget_alerts_budget_id_window_start_threshold_key" ON "budget_alerts"("budget_id", "window_start", "threshold");

-- CreateIndex
CREATE INDEX "llm_response_cache_expires_at_idx" ON "llm_response_cache"("expires_at");

-- AddForeignKey
ALTER TABLE "budget_alerts" ADD CONSTRAINT "budget_alerts_budget_id_fkey" FOREIGN KEY ("budget_id") REFERENCES "budgets"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Money can never go negative: a settlement that would is a bookkeeping bug, and the
-- database refuses it rather than record it (Prisma has no word for CHECK constraints).
ALTER TABLE "budgets" ADD CONSTRAINT "budgets_amounts_non_negative"
    CHECK ("limit_usd" >= 0 AND "spent_usd" >= 0 AND "reserved_usd" >= 0);
ALTER TABLE "spend_reservations" ADD CONSTRAINT "spend_reservations_amounts_non_negative"
    CHECK ("amount_usd" >= 0 AND ("settled_usd" IS NULL OR "settled_usd" >= 0));
ALTER TABLE "llm_calls" ADD CONSTRAINT "llm_calls_cost_non_negative" CHECK ("cost_usd" >= 0);
