import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { kustomize, objectId, type RenderedObject } from '../src/helm';
import {
  BASE_VALUES,
  COMPONENTS,
  driftedFiles,
  readRenderedFolders,
  renderForKubectl,
  renderKubectlManifests,
  type ComponentName,
} from '../src/render-k8s';
import { K8S_DIR, workspaceRoot } from '../src/workspace';
import { schemaProblems } from './kubernetes-schemas';
import { networkPolicyProblems, restrictedProblems, workloads, type Workload } from './policies';

// k8s/ for kubectl-only users: rendered from the chart (no drift), every overlay builds
// with kubectl's kustomize into valid objects, and each component applied on the base
// gives exactly what the chart renders with that component's values.

const k8s = join(workspaceRoot(), K8S_DIR);
let scratch: string;
let rendered: Map<string, string>;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'atelier-k8s-'));
  rendered = renderKubectlManifests();
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** kustomize of a throw-away overlay with these resources and components (paths under k8s/). */
function overlay(resources: string[], components: string[] = []): RenderedObject[] {
  const dir = mkdtempSync(join(scratch, 'overlay-'));
  const path = (folder: string) => relative(dir, join(k8s, folder));
  const lines = ['resources:', ...resources.map((folder) => `  - ${path(folder)}`)];
  if (components.length > 0) lines.push('components:', ...components.map((folder) => `  - ${path(folder)}`));
  writeFileSync(join(dir, 'kustomization.yaml'), `${lines.join('\n')}\n`);
  return kustomize(dir).map(({ object }) => object);
}

const byId = (objects: RenderedObject[]) => new Map(objects.map((object) => [objectId(object), object]));

test('k8s/ is what `npm run k8s:render` makes of the chart today (no drift)', () => {
  const drift = driftedFiles(rendered, readRenderedFolders());
  expect(drift).toEqual([]);
});

test('the drift check sees an edited file, a stale file and a missing file', () => {
  const edited = new Map(rendered);
  const [first] = [...rendered.keys()];
  edited.set(first ?? '', 'edited by hand\n');
  edited.set('base/stale.yaml', 'kind: Stale\n');
  edited.delete('migrations/kustomization.yaml');
  expect(driftedFiles(rendered, edited)).toEqual(['base/stale.yaml', first, 'migrations/kustomization.yaml'].sort());
});

const overlays = readdirSync(join(k8s, 'overlays'));

test.each(overlays)('overlays/%s builds with kubectl kustomize into valid, restricted, default-deny objects', (name) => {
  const objects = kustomize(join(k8s, 'overlays', name)).map(({ object }) => object);
  expect(objects.filter(({ kind }) => kind === 'Deployment').length).toBeGreaterThanOrEqual(3);
  expect(schemaProblems(objects)).toEqual([]);
  expect(workloads(objects).flatMap((workload) => restrictedProblems(workload))).toEqual([]);
  expect(networkPolicyProblems(objects.filter(({ metadata }) => metadata.labels?.['app.kubernetes.io/part-of'] === 'atelier'))).toEqual([]);
  const unplaced = objects.filter((object) => object.kind !== 'Namespace' && !(object.metadata as { namespace?: string }).namespace);
  expect(unplaced.map(objectId)).toEqual([]);
});

const imagesOf = (objects: RenderedObject[]) => new Map(workloads(objects).map(({ object, pod }: Workload) => [object.metadata.name, pod.containers[0]?.image]));
const migrationOverlays = overlays.filter((name) => existsSync(join(k8s, 'overlays', name, 'migrations', 'kustomization.yaml')));

test.each(migrationOverlays)(
  'overlays/%s/migrations builds the migration Job in the overlay’s namespace, with the overlay’s orchestrator image and the owner’s login',
  (name) => {
    const services = kustomize(join(k8s, 'overlays', name)).map(({ object }) => object);
    const migrations = kustomize(join(k8s, 'overlays', name, 'migrations')).map(({ object }) => object);
    expect(schemaProblems(migrations)).toEqual([]);
    expect(workloads(migrations).flatMap((workload) => restrictedProblems(workload))).toEqual([]);
    const job = workloads(migrations).find(({ object }) => object.kind === 'Job');
    expect(job?.object.metadata.name).toBe('atelier-migrations');
    expect(imagesOf(migrations).get('atelier-migrations')).toBe(imagesOf(services).get('atelier-orchestrator'));
    expect(imagesOf(migrations).get('atelier-migrations')).not.toMatch(/^localhost\//);
    const namespaces = (objects: RenderedObject[]) => new Set(objects.filter(({ kind }) => kind !== 'Namespace').map(({ metadata }) => (metadata as { namespace?: string }).namespace));
    expect(namespaces(migrations)).toEqual(namespaces(services));
    expect(job?.pod.containers[0]?.env).toEqual([
      { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'atelier', key: 'MIGRATION_DATABASE_URL' } } },
    ]);
  },
);

test('the production overlay has its migrations overlay, and base images are local-only until an overlay names a registry', () => {
  expect(migrationOverlays).toContain('production');
  const base = overlay(['base']);
  for (const image of imagesOf(base).values()) expect(image).toMatch(/^localhost\/atelier\//);
});

test('base and migrations build, and together hold what the chart renders with k8s/values/base.yaml', () => {
  const chart = renderForKubectl([BASE_VALUES]);
  const built = byId([...overlay(['base']), ...overlay(['migrations'])]);
  expect(built).toEqual(byId([...chart.plain, ...chart.hooks].map(({ object }) => object)));
  expect([...built.values()].filter(({ kind }) => kind === 'Secret')).toEqual([]);
});

test.each(Object.keys(COMPONENTS) as ComponentName[])('base + components/%s is what the chart renders with that component’s values', (name) => {
  const built = byId(overlay(['base'], [`components/${name}`]));
  const chart = byId(renderForKubectl([BASE_VALUES, COMPONENTS[name]]).plain.map(({ object }) => object));
  expect(built).toEqual(chart);
});

test('the dev overlay runs a single-node NATS JetStream and Postgres beside Atelier, on the simulator', () => {
  const objects = kustomize(join(k8s, 'overlays', 'dev')).map(({ object }) => object);
  const statefulSets = objects.filter(({ kind }) => kind === 'StatefulSet');
  expect(statefulSets.map(({ metadata }) => metadata.name).sort()).toEqual(['nats', 'postgres']);
  const nats = objects.find(({ kind, metadata }) => kind === 'ConfigMap' && metadata.name === 'nats');
  expect((nats?.['data'] as Record<string, string>)['nats.conf']).toMatch(/jetstream \{[\s\S]*store_dir: \/data[\s\S]*sync_interval: always/);
  for (const set of statefulSets) expect((set['spec'] as { replicas: number }).replicas).toBe(1);
  const agentConfig = objects.find(({ kind, metadata }) => kind === 'ConfigMap' && metadata.name === 'atelier-research-agent');
  expect(agentConfig?.['data']).toMatchObject({ NATS_URL: 'nats://nats:4222', LLM_MODE: 'simulator' });
  expect(objects.filter(({ kind }) => kind === 'HorizontalPodAutoscaler')).toEqual([]);
  expect(objects.map(({ kind, metadata }) => `${kind}/${metadata.name}`)).toContain('Job/atelier-migrations');
  // Two logins, as docs/audit.md asks: the services in atelier_app, the Job as the owner.
  const secret = objects.find(({ kind, metadata }) => kind === 'Secret' && metadata.name.startsWith('atelier-'));
  const data = Object.fromEntries(
    Object.entries((secret?.['data'] as Record<string, string>) ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString()]),
  );
  expect(data['DATABASE_URL']).toMatch(/^postgresql:\/\/atelier_svc:/);
  expect(data['MIGRATION_DATABASE_URL']).toMatch(/^postgresql:\/\/atelier:/);
  const init = objects.find(({ kind, metadata }) => kind === 'Secret' && metadata.name.startsWith('postgres-init-'));
  const script = Buffer.from((init?.['data'] as Record<string, string>)['app-login.sql'] ?? '', 'base64').toString();
  expect(script).toMatch(/CREATE ROLE atelier_svc LOGIN PASSWORD 'atelier-dev-only-app' IN ROLE atelier_app;/);
});

test('a new overlay on the base builds too (what a user writes first)', () => {
  const dir = join(scratch, 'user-overlay');
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    `namespace: team-a\nresources:\n  - ${relative(dir, join(k8s, 'base'))}\ncomponents:\n  - ${relative(dir, join(k8s, 'components', 'keda'))}\n`,
  );
  const objects = kustomize(dir).map(({ object }) => object);
  expect(objects.map(({ kind }) => kind)).toContain('ScaledObject');
  expect(new Set(objects.map(({ metadata }) => (metadata as { namespace?: string }).namespace))).toEqual(new Set(['team-a']));
});
