import { defineConfig } from 'prisma/config';

// Prisma does not read .env by itself, and `env()` throws when a variable is unset even
// for `prisma generate`, which needs no database: fall back to the local default.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/atelier' },
});
