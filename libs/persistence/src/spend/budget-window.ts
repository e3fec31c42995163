import type { BudgetPeriod } from '../generated/prisma/client';

/** The Prisma enum (`DAY`) or the API/SQL spelling (`day`). */
export type AnyPeriod = BudgetPeriod | 'total' | 'day' | 'month';

// Budget windows in TypeScript, for reading budgets. The SQL that moves money computes
// the same thing inside its statements (spend-ledger.sql.ts), so a window rolls over
// atomically with the reservation or settlement that first lands in it.

/** Start of the UTC window `at` falls in; `total` budgets keep the window they were created with. */
export function windowStartAt(period: AnyPeriod, at: Date, recorded: Date): Date {
  const period_ = period.toLowerCase();
  if (period_ === 'day') return maxDate(recorded, new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate())));
  if (period_ === 'month') return maxDate(recorded, new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1)));
  return recorded;
}

/** End of a window (exclusive), or null for `total`. */
export function windowEndOf(period: AnyPeriod, start: Date): Date | null {
  const period_ = period.toLowerCase();
  if (period_ === 'day') return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + 1));
  if (period_ === 'month') return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
  return null;
}

/** True when the stored spend belongs to a window that has ended by `now` (it reads as 0 until the next write rolls it). */
export function windowHasRolled(period: AnyPeriod, recorded: Date, now: Date): boolean {
  return windowStartAt(period, now, recorded).getTime() > recorded.getTime();
}

function maxDate(a: Date, b: Date): Date {
  return a.getTime() >= b.getTime() ? a : b;
}

/** The window a budget created at `now` starts in: the current UTC day or month, or `now` for `total`. */
export function initialWindowStart(period: AnyPeriod, now: Date): Date {
  return windowStartAt(period, now, period.toLowerCase() === 'total' ? now : new Date(0));
}
