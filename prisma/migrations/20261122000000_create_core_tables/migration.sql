-- CreateEnum
CREATE TYPE "task_status" AS ENUM ('queued', 'running', 'completed', 'failed', 'cancelled', 'budget_exceeded', 'timed_out');

-- CreateEnum
CREATE TYPE "step_status" AS ENUM ('queued', 'running', 'completed', 'failed', 'cancelled', 'dead_lettered');

-- CreateEnum
CREATE TYPE "llm_call_outcome" AS ENUM ('success', 'error', 'unknown');

-- CreateEnum
CREATE TYPE "budget_scope" AS ENUM ('global', 'tenant', 'task');

-- CreateEnum
CREATE TYPE "budget_period" AS ENUM ('total', 'day', 'month');

-- CreateEnum
CREATE TYPE "reservation_state" AS ENUM ('reserved', 'settled', 'released', 'unknown_outcome');

-- CreateTable
CREATE TABLE "tenants" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tenants_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "tenant_id" UUID NOT NULL,
    "name" TEXT,
    "prefix" TEXT NOT NULL,
    "key_hash" TEXT NOT NULL,
    "scopes" TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "tasks" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "tenant_id" UUID NOT NULL,
    "workflow" TEXT NOT NULL,
    "status" "task_status" NOT NULL DEFAULT 'queued',
    "input" JSONB NOT NULL,
    "result" JSONB,
    "error" JSONB,
    "metadata" JSONB,
    "budget_usd" DECIMAL(24,12),
    "deadline_at" TIMESTAMPTZ(3),
    "idempotency_key" TEXT,
    "request_hash" TEXT,
    "trace_id" TEXT,
    "version" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "tasks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "steps" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "task_id" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "agent" TEXT NOT NULL,
    "status" "step_status" NOT NULL DEFAULT 'queued',
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "depends_on" TEXT[],
    "input" JSONB NOT NULL,
    "output" JSONB,
    "error" JSONB,
    "metadata" JSONB,
    "queued_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "dispatched_at" TIMESTAMPTZ(3),
    "started_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "steps_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "llm_calls" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "attempt_id" TEXT NOT NULL,
    "step_id" UUID NOT NULL,
    "task_id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "model" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "input_tokens" INTEGER NOT NULL DEFAULT 0,
    "output_tokens" INTEGER NOT NULL DEFAULT 0,
    "cache_creation_input_tokens" INTEGER NOT NULL DEFAULT 0,
    "cache_read_input_tokens" INTEGER NOT NULL DEFAULT 0,
    "cost_usd" DECIMAL(24,12) NOT NULL,
    "latency_ms" INTEGER NOT NULL,
    "request_id" TEXT,
    "outcome" "llm_call_outcome" NOT NULL,
    "error_type" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "llm_calls_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_events" (
    "seq" BIGSERIAL NOT NULL,
    "occurred_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "tenant_id" UUID,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "task_id" UUID,
    "trace_id" TEXT,
    "request_id" TEXT,
    "data" JSONB NOT NULL DEFAULT '{}',
    "chain_pos" BIGINT,
    "prev_hash" TEXT,
    "hash" TEXT,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "budgets" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "scope" "budget_scope" NOT NULL,
    "scope_key" TEXT NOT NULL,
    "tenant_id" UUID,
    "task_id" UUID,
    "period" "budget_period" NOT NULL,
    "limit_usd" DECIMAL(24,12) NOT NULL,
    "spent_usd" DECIMAL(24,12) NOT NULL DEFAULT 0,
    "reserved_usd" DECIMAL(24,12) NOT NULL DEFAULT 0,
    "window_start" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "alert_thresholds" INTEGER[] DEFAULT ARRAY[50, 80, 100]::INTEGER[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "budgets_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "spend_reservations" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "attempt_id" TEXT NOT NULL,
    "step_id" UUID,
    "task_id" UUID,
    "tenant_id" UUID NOT NULL,
    "budget_ids" UUID[],
    "amount_usd" DECIMAL(24,12) NOT NULL,
    "settled_usd" DECIMAL(24,12),
    "state" "reservation_state" NOT NULL DEFAULT 'reserved',
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "settled_at" TIMESTAMPTZ(3),

    CONSTRAINT "spend_reservations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "tenants_name_key" ON "tenants"("name");

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_key_hash_key" ON "api_keys"("key_hash");

-- CreateIndex
CREATE INDEX "api_keys_tenant_id_idx" ON "api_keys"("tenant_id");

-- CreateIndex
CREATE INDEX "tasks_tenant_id_created_at_id_idx" ON "tasks"("tenant_id", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "tasks_status_idx" ON "tasks"("status");

-- CreateIndex
CREATE UNIQUE INDEX "tasks_tenant_id_idempotency_key_key" ON "tasks"("tenant_id", "idempotency_key");

-- CreateIndex
CREATE INDEX "steps_status_queued_at_idx" ON "steps"("status", "queued_at");

-- CreateIndex
CREATE UNIQUE INDEX "steps_task_id_key_key" ON "steps"("task_id", "key");

-- CreateIndex
CREATE UNIQUE INDEX "llm_calls_attempt_id_key" ON "llm_calls"("attempt_id");

-- CreateIndex
CREATE INDEX "llm_calls_step_id_idx" ON "llm_calls"("step_id");

-- CreateIndex
CREATE INDEX "llm_calls_task_id_idx" ON "llm_calls"("task_id");

-- CreateIndex
CREATE INDEX "llm_calls_tenant_id_created_at_idx" ON "llm_calls"("tenant_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "audit_events_chain_pos_key" ON "audit_events"("chain_pos");

-- CreateIndex
CREATE INDEX "audit_events_tenant_id_seq_idx" ON "audit_events"("tenant_id", "seq");

-- CreateIndex
CREATE INDEX "audit_events_task_id_seq_idx" ON "audit_events"("task_id", "seq");

-- CreateIndex
CREATE INDEX "audit_events_action_idx" ON "audit_events"("action");

-- CreateIndex
CREATE INDEX "budgets_tenant_id_idx" ON "budgets"("tenant_id");

-- CreateIndex
CREATE INDEX "budgets_task_id_idx" ON "budgets"("task_id");

-- CreateIndex
CREATE UNIQUE INDEX "budgets_scope_key_period_key" ON "budgets"("scope_key", "period");

-- CreateIndex
CREATE UNIQUE INDEX "spend_reservations_attempt_id_key" ON "spend_reservations"("attempt_id");

-- CreateIndex
CREATE INDEX "spend_reservations_state_expires_at_idx" ON "spend_reservations"("state", "expires_at");

-- CreateIndex
CREATE INDEX "spend_reservations_step_id_idx" ON "spend_reservations"("step_id");

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "steps" ADD CONSTRAINT "steps_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "llm_calls" ADD CONSTRAINT "llm_calls_step_id_fkey" FOREIGN KEY ("step_id") REFERENCES "steps"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
