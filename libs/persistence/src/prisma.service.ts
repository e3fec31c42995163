import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import { PrismaClient } from './generated/prisma/client';

export interface PrismaOptions {
  connectionString: string;
  /** Pool size per process; Postgres connections are the scarce resource across replicas. */
  poolMax?: number;
}

export const PRISMA_OPTIONS = Symbol('PRISMA_OPTIONS');

/** Prisma 7 over the pg driver adapter; also the `postgres` readiness check. */
@Injectable()
export class PrismaService extends PrismaClient implements OnModuleInit, OnApplicationShutdown {
  readonly name = 'postgres';
  /**
   * The connection pool Prisma runs on, shared with code that needs what Prisma cannot
   * give: named prepared statements (the spend ledger's hot path). One pool per process.
   */
  readonly pool: Pool;

  constructor(options: PrismaOptions) {
    const pool = new Pool({ connectionString: options.connectionString, max: options.poolMax ?? 10 });
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
    await this.$queryRaw`SELECT 1`;
  }
}

export function createPrismaClient(options: PrismaOptions): PrismaService {
  return new PrismaService(options);
}
