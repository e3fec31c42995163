import { resolve } from 'node:path';
import { ensureDatabase } from './database-bootstrap';
import { applyMigrations } from './migration-runner';

// `npm run db:migrate`: applies prisma/migrations offline (see migration-runner.ts).
async function main(): Promise<void> {
  const url = process.env['DATABASE_URL'];
  if (!url) throw new Error('DATABASE_URL is required');
  const migrationsDir = resolve(process.env['MIGRATIONS_DIR'] ?? 'prisma/migrations');
  const created = await ensureDatabase(url);
  const { applied, alreadyApplied } = await applyMigrations(url, migrationsDir);
  const database = new URL(url).pathname.slice(1);
  console.log(
    `migrations: ${created ? `created database ${database}; ` : ''}applied ${applied.length} (${applied.join(', ') || 'none'}), ${alreadyApplied.length} already applied`,
  );
}

main().catch((error: Error) => {
  console.error(`migrations failed: ${error.message}`);
  process.exit(1);
});
