/**
 * Where budget code reads the time. Budget windows are UTC days and months, so tests
 * cross midnight by passing a clock instead of waiting for it; production uses the
 * system clock. The database's own now() is never used for windows, so one process's
 * view of time decides each statement.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
