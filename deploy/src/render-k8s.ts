import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { helmTemplate, isHook, objectId, type RenderedDocument, type RenderedObject } from './helm';
import { K8S_DIR, workspaceRoot } from './workspace';

// k8s/ for kubectl-only users, rendered from the chart so the two never disagree:
//   base/        everything but hooks, with k8s/values/base.yaml
//   migrations/  the migration hook Job (apply it, wait, then apply base)
//   components/  kustomize Components, each the difference the chart renders with one
//                more values file: objects it adds, patches for objects it changes,
//                delete patches for objects it drops.
// The overlays (k8s/overlays/*) are written by hand on top of these.

export const BASE_VALUES = 'k8s/values/base.yaml';
export const COMPONENTS = {
  keda: 'k8s/values/keda.yaml',
  monitoring: 'k8s/values/monitoring.yaml',
  simulator: 'k8s/values/simulator.yaml',
} as const;
export type ComponentName = keyof typeof COMPONENTS;

/** Folders under k8s/ whose every file this script owns. */
export const RENDERED_DIRS = ['base', 'migrations', ...Object.keys(COMPONENTS).map((name) => `components/${name}`)];

const HEADER = (values: string[]) =>
  `# Rendered from helm/atelier with ${values.join(' + ')} by \`npm run k8s:render\`.\n# Do not edit: change the chart or the values file and render again.\n`;

function fileName(object: RenderedObject, prefix = ''): string {
  return `${prefix}${object.kind.toLowerCase()}-${object.metadata.name}.yaml`;
}

function kustomization(kind: 'Kustomization' | 'Component', values: string[], resources: string[], patches: string[] = []): string {
  const apiVersion = kind === 'Component' ? 'kustomize.config.k8s.io/v1alpha1' : 'kustomize.config.k8s.io/v1beta1';
  const lines = [HEADER(values).trimEnd(), `apiVersion: ${apiVersion}`, `kind: ${kind}`];
  if (resources.length > 0) lines.push('resources:', ...resources.map((file) => `  - ${file}`));
  if (patches.length > 0) lines.push('patches:', ...patches.map((file) => `  - path: ${file}`));
  return `${lines.join('\n')}\n`;
}

function deletePatch({ apiVersion, kind, metadata }: RenderedObject): string {
  return `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: ${metadata.name}\n$patch: delete\n`;
}

function withoutTests(documents: RenderedDocument[]): RenderedDocument[] {
  return documents.filter(({ object }) => object.metadata.annotations?.['helm.sh/hook'] !== 'test');
}

/** What the chart renders for kubectl: plain objects and hook objects, with these values files. */
export function renderForKubectl(values: string[]): { plain: RenderedDocument[]; hooks: RenderedDocument[] } {
  const documents = withoutTests(helmTemplate({ files: values }));
  return { plain: documents.filter(({ object }) => !isHook(object)), hooks: documents.filter(({ object }) => isHook(object)) };
}

/** Every file of the rendered folders, path (relative to k8s/) → content. */
export function renderKubectlManifests(): Map<string, string> {
  const files = new Map<string, string>();
  const put = (dir: string, documents: RenderedDocument[], values: string[]) => {
    const names = documents.map(({ object, text }) => {
      const name = fileName(object);
      files.set(`${dir}/${name}`, HEADER(values) + text);
      return name;
    });
    files.set(`${dir}/kustomization.yaml`, kustomization('Kustomization', values, names));
  };

  const base = renderForKubectl([BASE_VALUES]);
  put('base', base.plain, [BASE_VALUES]);
  put('migrations', base.hooks, [BASE_VALUES]);

  const baseById = new Map(base.plain.map((document) => [objectId(document.object), document.object]));
  for (const [name, valuesFile] of Object.entries(COMPONENTS)) {
    const values = [BASE_VALUES, valuesFile];
    const dir = `components/${name}`;
    const rendered = renderForKubectl(values).plain;
    const renderedIds = new Set(rendered.map(({ object }) => objectId(object)));
    const resources: string[] = [];
    const patches: string[] = [];
    for (const { object, text } of rendered) {
      const before = baseById.get(objectId(object));
      if (isDeepStrictEqual(before, object)) continue;
      const file = before ? fileName(object, 'patch-') : fileName(object);
      files.set(`${dir}/${file}`, HEADER(values) + text);
      (before ? patches : resources).push(file);
    }
    for (const object of baseById.values()) {
      if (renderedIds.has(objectId(object))) continue;
      const file = fileName(object, 'delete-');
      files.set(`${dir}/${file}`, HEADER(values) + deletePatch(object));
      patches.push(file);
    }
    files.set(`${dir}/kustomization.yaml`, kustomization('Component', values, resources, patches));
  }
  return files;
}

/** Files on disk under the rendered folders, path (relative to k8s/) → content. */
export function readRenderedFolders(): Map<string, string> {
  const root = join(workspaceRoot(), K8S_DIR);
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.set(relative(root, path), readFileSync(path, 'utf8'));
    }
  };
  for (const dir of RENDERED_DIRS) {
    try {
      walk(join(root, dir));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return files;
}

/** Paths that differ between what the chart renders and what k8s/ holds. */
export function driftedFiles(rendered: Map<string, string>, onDisk: Map<string, string>): string[] {
  const paths = new Set([...rendered.keys(), ...onDisk.keys()]);
  return [...paths].filter((path) => rendered.get(path) !== onDisk.get(path)).sort();
}

function main(): void {
  const rendered = renderKubectlManifests();
  const drift = driftedFiles(rendered, readRenderedFolders());
  if (process.argv.includes('--check')) {
    if (drift.length > 0) {
      console.error(`k8s/ differs from the chart in ${drift.length} files (run npm run k8s:render):\n  ${drift.join('\n  ')}`);
      process.exitCode = 1;
    } else {
      console.log(`k8s/ matches the chart (${rendered.size} files)`);
    }
    return;
  }
  const root = join(workspaceRoot(), K8S_DIR);
  for (const dir of RENDERED_DIRS) rmSync(join(root, dir), { recursive: true, force: true });
  for (const [path, content] of rendered) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  console.log(`k8s/: rendered ${rendered.size} files from helm/atelier (${drift.length} changed)`);
}

if (require.main === module) main();
