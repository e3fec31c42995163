// Runs `prisma generate` offline. Prisma 7 wants its native schema engine even for
// generate, and that download is impossible without the internet; generate only needs
// the engine's path to exist, so point it at a non-executable placeholder (never a fake
// executable: that would make `migrate deploy` "succeed" having applied nothing).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) {
  const placeholder = join(root, 'node_modules', '.cache', 'atelier', 'schema-engine-placeholder');
  mkdirSync(dirname(placeholder), { recursive: true });
  if (!existsSync(placeholder)) writeFileSync(placeholder, 'not an engine: see tools/prisma-generate.mjs\n', { mode: 0o644 });
  env.PRISMA_SCHEMA_ENGINE_BINARY = placeholder;
}
const result = spawnSync(process.execPath, [join(root, 'node_modules', 'prisma', 'build', 'index.js'), 'generate'], {
  cwd: root,
  env,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
