import { setFlagsFromString } from 'node:v8';
import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import { PrismaClient } from './generated/prisma/client';
import { type StatementDurations, timeStatements } from './statement-timing';

export interface PrismaOptions {
  connectionString: string;
  /** Pool size per process; Postgres connections are the scarce resource across replicas. */
  poolMax?: number;
  /** Where the round trip of each statement on the pool is recorded (see timeStatements); not timed without it. */
  statementDurations?: StatementDurations;
}

export const PRISMA_OPTIONS = Symbol('PRISMA_OPTIONS');

/** Prisma 7 over the pg driver adapter; also the `postgres` readiness check. */
@Injectable()
export class PrismaService extends PrismaClient implements OnModuleInit, OnApplicationShutdown {
  readonly name = 'postgres';
  /**
   * The connection pool Prisma runs on, shared (never a second pool) with code that needs
   * what Prisma cannot give: named prepared statements in single-statement transactions
   * (the spend ledger, the step hot path). A raw statement through pg costs about a third
   * of the CPU of the same statement through `$queryRaw`, and a Prisma interactive
   * transaction of three statements about nine times as much (bench/RESULTS.md).
   */
  readonly pool: Pool;

  constructor(options: PrismaOptions) {
    // Prisma 7 plans queries in a WebAssembly module, compiled when the client connects.
    // V8's optimising tier (TurboFan) for that large module costs about 60 MB of resident
    // memory per process (bench/RESULTS.md); the baseline tier is enough for the model
    // queries left, the hot path being plain statements on `sql`. Affects only wasm
    // compiled from here on, and Prisma's is the only wasm these services run.
    setFlagsFromString('--liftoff-only');
    const pool = new Pool({ connectionString: options.connectionString, max: options.poolMax ?? 10 });
    // An idle connection dropped by a Postgres restart is reported here; without a listener
    // the process would crash. The pool replaces it on the next query.
    pool.on('error', (error) => new Logger('Postgres').warn(`idle connection lost: ${error.message}`));
    if (options.statementDurations) timeStatements(pool, options.statementDurations);
    super({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
    this.pool = pool;
  }

  async onModuleInit(): Promise<void> {
    await this.$connect();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.$disconnect();
  }

  async isReady(): Promise<void> {
    await this.pool.query('SELECT 1');
  }
}

export function createPrismaClient(options: PrismaOptions): PrismaService {
  return new PrismaService(options);
}
