import { Prisma } from '../generated/prisma/client';

/** A budget's exact money: its row with the settlements not yet folded into it (the view budget_balances). */
export interface BudgetBalance {
  spentUsd: Prisma.Decimal;
  reservedUsd: Prisma.Decimal;
  /** The latest window with spend recorded (readers that know "now" treat an ended one as empty: budget-window.ts). */
  windowStart: Date;
}

/** Anything that runs a tagged raw query: PrismaService or a transaction client. */
interface RawQueries {
  $queryRaw<T = unknown>(query: TemplateStringsArray | Prisma.Sql, ...values: unknown[]): Prisma.PrismaPromise<T>;
}

/** The exact money of these budgets, by id, read in one snapshot. */
export async function readBudgetBalances(db: RawQueries, ids: readonly string[]): Promise<Map<string, BudgetBalance>> {
  if (ids.length === 0) return new Map();
  const rows = await db.$queryRaw<{ id: string; spent_usd: Prisma.Decimal; reserved_usd: Prisma.Decimal; window_start: Date }[]>`
    SELECT id::text, spent_usd, reserved_usd, window_start FROM budget_balances WHERE id = ANY(${[...ids]}::uuid[])`;
  return new Map(rows.map((row) => [row.id, { spentUsd: new Prisma.Decimal(row.spent_usd), reservedUsd: new Prisma.Decimal(row.reserved_usd), windowStart: row.window_start }]));
}
