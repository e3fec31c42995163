import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The workspace root, found from this file whether it runs from source or from dist/. */
export function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'nx.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('workspace root (nx.json) not found');
    dir = parent;
  }
  return dir;
}
