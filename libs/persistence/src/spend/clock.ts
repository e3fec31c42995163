import { readFileSync } from 'node:fs';

/**
 * Where budget code reads the time. Budget windows are UTC days and months, so tests
 * cross midnight by moving a clock instead of waiting for it; production uses the
 * system clock. The database's own now() is never used for windows, so one process's
 * view of time decides each statement.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** The variable that names a test clock file (see testClockFromFile); refused when NODE_ENV=production. */
export const TEST_CLOCK_VARIABLE = 'ATELIER_TEST_CLOCK_FILE';

/**
 * TEST ONLY. The system clock shifted by the signed number of milliseconds written in
 * `path` (e.g. `-86400000`), read at every `now()`, so an end-to-end test moves the time
 * of every service that shares the file at once (past 00:00 UTC) while time keeps
 * running. An unreadable file or a bad number throws: a test clock never silently falls
 * back to real time.
 */
export function testClockFromFile(path: string): Clock {
  const offsetMs = (): number => {
    const text = readFileSync(path, 'utf8').trim();
    if (!/^-?\d{1,15}$/.test(text)) throw new Error(`${TEST_CLOCK_VARIABLE} ${path} must hold a signed offset in milliseconds, not "${text.slice(0, 40)}"`);
    return Number(text);
  };
  offsetMs();
  return { now: () => new Date(Date.now() + offsetMs()) };
}

/** The clock of a service: the system clock, or the test clock its (validated) configuration names. */
export function serviceClock(testClockFile: string | undefined): Clock {
  return testClockFile ? testClockFromFile(testClockFile) : systemClock;
}
