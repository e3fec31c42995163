import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The workspace root, found from this file whether it runs from deploy/src or dist/deploy/src. */
export function workspaceRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'nx.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('workspace root (nx.json) not found');
    dir = parent;
  }
  return dir;
}

export const CHART_DIR = 'helm/atelier';
export const K8S_DIR = 'k8s';
