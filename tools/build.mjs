// Compiles every app and lib to dist/ with swc (one pass, ~1 s), rewriting the
// @atelier/* path aliases into relative requires so `node dist/apps/<app>/src/main.js`
// runs without a loader. Type checking is `npm run typecheck`, kept apart for speed.
import { transformFile } from '@swc/core';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist');
const swcrc = JSON.parse(await readFile(join(root, '.swcrc.json'), 'utf8'));
const { compilerOptions } = JSON.parse(await readFile(join(root, 'tsconfig.base.json'), 'utf8'));

async function* sources(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'test') yield* sources(path);
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') && !entry.name.endsWith('.d.ts')) {
      yield path;
    }
  }
}

const started = Date.now();
await rm(outDir, { recursive: true, force: true });
const files = [];
for (const top of ['apps', 'libs']) {
  for (const project of await readdir(join(root, top))) {
    for await (const file of sources(join(root, top, project, 'src'))) files.push(file);
  }
}
// The deploy tooling (chart checks, k8s/ rendering) is a project outside apps/ and libs/.
for await (const file of sources(join(root, 'deploy', 'src'))) files.push(file);
await Promise.all(
  files.map(async (file) => {
    const rel = relative(root, file);
    const target = join(outDir, rel.replace(/\.ts$/, '.js'));
    const { $comment: _ignored, ...options } = swcrc;
    const { code, map } = await transformFile(file, {
      ...options,
      swcrc: false,
      filename: file,
      sourceFileName: relative(dirname(target), file),
      jsc: { ...options.jsc, baseUrl: root, paths: compilerOptions.paths },
    });
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, map ? `${code}\n//# sourceMappingURL=${target.split('/').pop()}.map\n` : code);
    // A file with a shebang is a command (the atelier CLI): runnable as itself, and by npx.
    if (code.startsWith('#!')) await chmod(target, 0o755);
    if (map) await writeFile(`${target}.map`, map);
  }),
);
console.log(`build: ${files.length} files compiled to dist/ in ${Date.now() - started} ms`);
