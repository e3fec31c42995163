import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
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

  constructor(options: PrismaOptions) {
    super({ adapter: new PrismaPg({ connectionString: options.connectionString, max: options.poolMax ?? 10 }) });
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
