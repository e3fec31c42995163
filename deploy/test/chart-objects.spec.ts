import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { helmTemplate, objectId, type RenderedObject } from '../src/helm';
import { chartValueSets, mergedValues } from '../src/value-sets';
import { CHART_DIR, workspaceRoot } from '../src/workspace';
import { schemaProblems } from './kubernetes-schemas';
import { podIn, podOfPeer, type Peer, type PodEndpoint } from './network-reach';
import {
  autoscalerProblems,
  disruptionProblems,
  gracePeriodProblems,
  migrationLoginProblems,
  networkPolicyProblems,
  probeProblems,
  restrictedProblems,
  scrapeProblems,
  secretLeakProblems,
  secretValues,
  testPodProblems,
  tmpProblems,
  workloads,
} from './policies';

// Every value set of the chart, rendered by the real helm, checked object by object.

const valueSets = chartValueSets();
const renders = new Map<string, RenderedObject[]>();
function rendered(name: string): RenderedObject[] {
  const objects = renders.get(name);
  if (!objects) throw new Error(`value set ${name} was not rendered`);
  return objects;
}

function named<T extends { metadata: { name: string } }>(items: T[], name: string): T {
  const found = items.find((item) => item.metadata.name === name);
  if (!found) throw new Error(`${name} not rendered`);
  return found;
}

const container = (objects: RenderedObject[], name: string) => named(workloads(objects).map(({ object, pod }) => ({ metadata: object.metadata, pod })), name).pod.containers[0];

/** `helm template` renders into the namespace `default`. */
const NAMESPACE = 'default';

const read = (path: string) => readFileSync(join(workspaceRoot(), path), 'utf8');

/**
 * How long a process gives the rest of its close beyond SHUTDOWN_GRACE_MS before it exits
 * by itself, read from the code that sets it (the chart's atelier.processCloseMarginSeconds
 * must cover it).
 */
const processCloseMarginMs = Math.max(
  ...['apps/orchestrator/src/main.ts', 'libs/agent-runtime/src/run-agent.ts'].map((file) => {
    const [, margin] = /shutdownTimeoutMs: \(config\) => config\.SHUTDOWN_GRACE_MS \+ ([\d_]+)/.exec(read(file)) ?? [];
    if (!margin) throw new Error(`${file}: no "shutdownTimeoutMs: (config) => config.SHUTDOWN_GRACE_MS + <ms>"; update this check with the code`);
    return Number(margin.replaceAll('_', ''));
  }),
);

/** Pods standing for networkPolicy.metricsFrom (empty: any pod, here one in another namespace). */
function scrapers(name: string): PodEndpoint[] {
  const values = mergedValues(valueSets.find((set) => set.name === name)?.values ?? {}) as { networkPolicy: { metricsFrom: Peer[] } };
  const peers = values.networkPolicy.metricsFrom;
  if (peers.length === 0) return [podIn('anywhere')];
  return peers.flatMap((peer) => podOfPeer(peer, NAMESPACE) ?? []);
}

/** Whether a value set gives the migration Job a database login of its own. */
function separateMigrationLogin(name: string): boolean {
  const { secrets } = mergedValues(valueSets.find((set) => set.name === name)?.values ?? {}) as {
    secrets: { existingSecret: string; databaseUrl: string; migrationDatabaseUrl: string; keys: { databaseUrl: string; migrationDatabaseUrl: string } };
  };
  if (secrets.existingSecret) return Boolean(secrets.keys.migrationDatabaseUrl) && secrets.keys.migrationDatabaseUrl !== secrets.keys.databaseUrl;
  return Boolean(secrets.migrationDatabaseUrl) && secrets.migrationDatabaseUrl !== secrets.databaseUrl;
}

/** The secret variable names the values schema refuses in `config` maps. */
const secretVariables: string[] = JSON.parse(read(`${CHART_DIR}/values.schema.json`)).definitions.env.propertyNames.not.enum;

beforeAll(() => {
  for (const { name, values } of valueSets) renders.set(name, helmTemplate(values).map(({ object }) => object));
});

const names = valueSets.map(({ name }) => name);

describe('helm template', () => {
  test('covers the defaults, both autoscaling engines, autoscaling off, an existing Secret and every ci/ scenario', () => {
    expect(names).toEqual(expect.arrayContaining(['defaults', 'keda', 'autoscaling off', 'existingSecret']));
    expect(names.filter((name) => name.startsWith('ci/')).length).toBeGreaterThanOrEqual(5);
    for (const name of names) expect(rendered(name).filter(({ kind }) => kind === 'Deployment').length).toBeGreaterThanOrEqual(3);
  });

  test('every object of every value set validates against the Kubernetes, KEDA and Prometheus Operator schemas, with no unknown field', () => {
    // One type-check over the distinct objects of all value sets: much faster than one per set.
    const distinct = new Map(names.flatMap((name) => rendered(name)).map((object) => [JSON.stringify(object), object]));
    expect(distinct.size).toBeGreaterThan(rendered('defaults').length);
    expect(schemaProblems([...distinct.values()])).toEqual([]);
  });

  test.each(names)('%s: every pod meets the restricted profile, with limits and a read-only root', (name) => {
    const problems = workloads(rendered(name)).flatMap((workload) => [...restrictedProblems(workload), ...tmpProblems(workload)]);
    expect(problems).toEqual([]);
  });

  test('the process close margin is read from the services (15 s today)', () => {
    expect(processCloseMarginMs).toBe(15_000);
  });

  test.each(names)('%s: every service has its health probes and a grace period longer than its own stop', (name) => {
    const objects = rendered(name);
    const problems = workloads(objects)
      .filter(({ object }) => object.kind === 'Deployment')
      .flatMap((workload) => {
        const config = objects.find(({ kind, metadata }) => kind === 'ConfigMap' && metadata.name === workload.object.metadata.name);
        const grace = Number((config?.['data'] as Record<string, string> | undefined)?.['SHUTDOWN_GRACE_MS'] ?? 0);
        return [...probeProblems(workload), ...gracePeriodProblems(workload, grace, processCloseMarginMs)];
      });
    expect(problems).toEqual([]);
  });

  test.each(names)('%s: PodDisruptionBudgets cover every Deployment, autoscalers keep at least 2 replicas', (name) => {
    expect(disruptionProblems(rendered(name))).toEqual([]);
  });

  test.each(names)('%s: autoscalers target the right Deployment and queue (stream and consumer from libs/contracts)', (name) => {
    expect(autoscalerProblems(rendered(name))).toEqual([]);
  });

  test.each(names)('%s: a default-deny NetworkPolicy selects every pod', (name) => {
    expect(networkPolicyProblems(rendered(name))).toEqual([]);
  });

  test.each(names)('%s: the scrapers (metricsFrom) reach every Service a ServiceMonitor scrapes, the helm test pod reaches the API', (name) => {
    expect(scrapeProblems(rendered(name), scrapers(name), NAMESPACE)).toEqual([]);
    expect(testPodProblems(rendered(name), NAMESPACE)).toEqual([]);
  });

  test('the reachability checks run where they matter: ServiceMonitors with a restricted API, test pods', () => {
    const monitored = names.filter((name) => rendered(name).some(({ kind }) => kind === 'ServiceMonitor'));
    expect(monitored).toEqual(expect.arrayContaining(['ci/monitoring-values.yaml', 'ci/production-values.yaml']));
    expect(names.filter((name) => rendered(name).some(({ metadata }) => metadata.annotations?.['helm.sh/hook'] === 'test')).length).toBeGreaterThan(5);
  });

  test.each(names.filter(separateMigrationLogin))('%s: no service reads the migration Job’s database login', (name) => {
    expect(migrationLoginProblems(rendered(name))).toEqual([]);
  });

  test('the migration login check runs on a chart-made Secret and on existing Secrets', () => {
    expect(names.filter(separateMigrationLogin)).toEqual(
      expect.arrayContaining(['ci/keda-values.yaml', 'ci/existing-secret-values.yaml', 'ci/production-values.yaml']),
    );
  });

  test.each(names)('%s: no secret is rendered into a ConfigMap or a literal env value', (name) => {
    const objects = rendered(name);
    expect(secretLeakProblems(objects, secretValues(objects), secretVariables)).toEqual([]);
  });
});

describe('what the value sets switch', () => {
  const kinds = (name: string) => rendered(name).map(({ kind, metadata }) => `${kind}/${metadata.name}`);

  test('hpa (default) scales agents on atelier_queue_depth, keda with ScaledObjects, autoscaling off with fixed replicas', () => {
    expect(kinds('defaults')).toEqual(
      expect.arrayContaining(['HorizontalPodAutoscaler/atelier-research-agent', 'HorizontalPodAutoscaler/atelier-writer-agent']),
    );
    expect(kinds('defaults').filter((kind) => kind.startsWith('ScaledObject'))).toEqual([]);
    expect(kinds('keda')).toEqual(expect.arrayContaining(['ScaledObject/atelier-research-agent', 'ScaledObject/atelier-writer-agent']));
    expect(kinds('keda')).not.toContain('HorizontalPodAutoscaler/atelier-research-agent');
    expect(kinds('keda')).toContain('HorizontalPodAutoscaler/atelier-orchestrator');
    const fixed = rendered('autoscaling off');
    expect(fixed.filter(({ kind }) => kind === 'HorizontalPodAutoscaler' || kind === 'ScaledObject')).toEqual([]);
    for (const deployment of fixed.filter(({ kind }) => kind === 'Deployment')) {
      expect((deployment['spec'] as { replicas?: number }).replicas).toBe(2);
    }
  });

  test('an existing Secret replaces the chart-made ones, under its own key names', () => {
    expect(rendered('existingSecret').filter(({ kind }) => kind === 'Secret')).toEqual([]);
    const fromCi = rendered('ci/existing-secret-values.yaml');
    expect(fromCi.filter(({ kind }) => kind === 'Secret')).toEqual([]);
    expect(container(fromCi, 'atelier-orchestrator').env).toContainEqual({
      name: 'DATABASE_URL',
      valueFrom: { secretKeyRef: { name: 'atelier-credentials', key: 'uri' } },
    });
  });

  test('the migration Job is a pre-install/pre-upgrade hook whose Secret and ServiceAccount come first', () => {
    const objects = rendered('ci/keda-values.yaml');
    const hooks = objects.filter((object) => object.metadata.annotations?.['helm.sh/hook']?.includes('pre-install'));
    const job = named(
      hooks.filter(({ kind }) => kind === 'Job'),
      'atelier-migrations',
    );
    expect(job.metadata.annotations?.['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    const weight = (object: RenderedObject) => Number(object.metadata.annotations?.['helm.sh/hook-weight']);
    for (const dependency of hooks.filter((object) => object !== job)) expect(weight(dependency)).toBeLessThan(weight(job));
    expect(hooks.map(({ kind }) => kind).sort()).toEqual(['Job', 'Secret', 'ServiceAccount']);
    expect(container([job], 'atelier-migrations').env?.map(({ name }) => name)).toEqual(['DATABASE_URL']);
  });

  test('agents get only the secrets they use; the orchestrator never sees the Anthropic key', () => {
    const envNames = (name: string) => (container(rendered('defaults'), name).env ?? []).map(({ name: variable }) => variable);
    expect(envNames('atelier-orchestrator')).not.toContain('ANTHROPIC_API_KEY');
    expect(envNames('atelier-research-agent')).toContain('ANTHROPIC_API_KEY');
    expect(envNames('atelier-research-agent')).not.toContain('ATELIER_BOOTSTRAP_API_KEY');
  });

  test('the open config map reaches every service, typed values still apply, the simulator is off by default', () => {
    const config = (set: string, name: string) =>
      named(
        rendered(set).filter(({ kind }) => kind === 'ConfigMap'),
        name,
      )['data'] as Record<string, string>;
    expect(config('ci/monitoring-values.yaml', 'atelier-writer-agent')).toMatchObject({
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.observability.svc:4318',
      LOG_LEVEL: 'debug',
      LLM_MODE: 'anthropic',
    });
    expect(config('ci/simulator-values.yaml', 'atelier-research-agent')).toMatchObject({
      LLM_MODE: 'simulator',
      ANTHROPIC_BASE_URL: 'http://atelier-llm-simulator:8090',
    });
    expect(kinds('defaults').filter((kind) => kind.includes('llm-simulator'))).toEqual([]);
  });

  test('object names are unique within each render', () => {
    for (const name of names) {
      const ids = rendered(name).map(objectId);
      expect(new Set(ids).size).toBe(ids.length);
    }
  });
});
