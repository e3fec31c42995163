import type { Pool } from 'pg';

/** Where a statement's round trip is recorded (the metrics catalog's atelier_db_statement_duration_seconds). */
export interface StatementDurations {
  observe(labels: { statement: string }, seconds: number): void;
}

/** The label of a statement without a name: Prisma's queries and the few plain ones. */
export const UNNAMED_STATEMENT = 'unnamed';

/**
 * Times every statement run on `pool` directly (`pool.query`, promise form): one
 * statement, one round trip, the hot path's unit of work. The time runs from the call to
 * the answer, so it includes waiting for a free connection and the service's own event
 * loop: what a step waits, not what Postgres spends (pg_stat_statements tells that). A
 * named statement is recorded under its name; names are constants in the code, so the
 * label's values are few. Statements inside a transaction (a checked-out client) are not
 * timed.
 */
export function timeStatements(pool: Pool, durations: StatementDurations): void {
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    const started = performance.now();
    const answer = query(...args);
    if (answer instanceof Promise) {
      const statement = statementName(args[0]);
      const observe = () => durations.observe({ statement }, (performance.now() - started) / 1000);
      answer.then(observe, observe);
    }
    return answer;
  }) as Pool['query'];
}

function statementName(config: unknown): string {
  const name = typeof config === 'object' && config !== null ? (config as { name?: unknown }).name : undefined;
  return typeof name === 'string' && name.length > 0 ? name : UNNAMED_STATEMENT;
}
