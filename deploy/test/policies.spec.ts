import { CONSUMERS } from '@atelier/contracts';
import { helmTemplate, type RenderedObject } from '../src/helm';
import { withRequired } from '../src/value-sets';
import { schemaProblems } from './kubernetes-schemas';
import { podIn } from './network-reach';
import {
  autoscalerProblems,
  disruptionProblems,
  gracePeriodProblems,
  heapProblems,
  migrationLoginProblems,
  networkPolicyProblems,
  probeProblems,
  restrictedProblems,
  scrapeProblems,
  secretLeakProblems,
  testPodProblems,
  workloads,
} from './policies';

// The chart checks are only worth something if they fail on a bad chart: each case
// below breaks one thing in a real render and expects the matching check to name it.

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- free-form edits of rendered YAML

let pristine: RenderedObject[];
let pristineKeda: RenderedObject[];
/** A restricted API (apiFrom), Prometheus in namespace `monitoring`, the Job with the owner's login. */
let pristineLocked: RenderedObject[];

const OWNER_URL = 'postgresql://owner:owner-secret@db:5432/atelier';
const NAMESPACE = 'default';
const prometheus = podIn('monitoring', { 'app.kubernetes.io/name': 'prometheus' });

beforeAll(() => {
  pristine = helmTemplate(withRequired('secrets.databaseUrl=postgresql://u:hunter2-secret@db:5432/atelier')).map(({ object }) => object);
  pristineKeda = helmTemplate(withRequired('autoscaling.engine=keda')).map(({ object }) => object);
  pristineLocked = helmTemplate(
    withRequired(
      `secrets.migrationDatabaseUrl=${OWNER_URL}`,
      'metrics.serviceMonitor.enabled=true',
      'networkPolicy.apiFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=ingress-nginx',
      'networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring',
    ),
  ).map(({ object }) => object);
});

/** A fresh copy of the render with `edit` applied to the object called `name` of `kind`. */
function broken(kind: string, name: string, edit: (object: Json) => void, from = pristine): RenderedObject[] {
  const objects = structuredClone(from);
  const target = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!target) throw new Error(`${kind}/${name} not rendered`);
  edit(target as Json);
  return objects;
}

const orchestratorPod = (object: Json) => object['spec'].template.spec;

test('the pristine render passes every check', () => {
  expect(schemaProblems(pristine)).toEqual([]);
  expect(workloads(pristine).flatMap((workload) => restrictedProblems(workload))).toEqual([]);
  expect(disruptionProblems(pristine)).toEqual([]);
  expect(autoscalerProblems(pristineKeda)).toEqual([]);
  expect(networkPolicyProblems(pristine)).toEqual([]);
  expect(secretLeakProblems(pristine, ['hunter2-secret'], ['DATABASE_URL'])).toEqual([]);
  expect(scrapeProblems(pristineLocked, [prometheus], NAMESPACE)).toEqual([]);
  expect(testPodProblems(pristineLocked, NAMESPACE)).toEqual([]);
  expect(migrationLoginProblems(pristineLocked)).toEqual([]);
  expect(heapProblems(pristine)).toEqual([]);
});

test('heap check: a service without a V8 heap limit, or with one its memory limit cannot hold', () => {
  const unlimited = broken('ConfigMap', 'atelier-orchestrator', (object) => {
    delete object['data'].NODE_OPTIONS;
  });
  expect(heapProblems(unlimited)).toEqual(['apps/v1/Deployment/atelier-orchestrator container orchestrator: no V8 heap limit (NODE_OPTIONS=--max-old-space-size)']);
  const tooBig = helmTemplate(withRequired('heapLimitMb=480')).map(({ object }) => object);
  expect(heapProblems(tooBig)).toEqual(expect.arrayContaining([expect.stringMatching(/^apps\/v1\/Deployment\/atelier-orchestrator container orchestrator: a 480 MB heap leaves less than 128 MB of its 512Mi memory limit$/)]));
});

test('schema check: a misspelt field, a wrong type and a missing required field', () => {
  const typo = broken('Deployment', 'atelier-orchestrator', (object) => {
    const container = orchestratorPod(object).containers[0];
    container.readinesProbe = container.readinessProbe;
  });
  expect(schemaProblems(typo)).toEqual([expect.stringMatching(/Deployment\/atelier-orchestrator: .*'"readinesProbe"' does not exist/)]);

  const wrongType = broken('Service', 'atelier-orchestrator', (object) => {
    object['spec'].ports[0].port = 'eighty';
  });
  expect(schemaProblems(wrongType).join('\n')).toMatch(/Service\/atelier-orchestrator: .*port/);

  const missing = broken('HorizontalPodAutoscaler', 'atelier-writer-agent', (object) => {
    delete object['spec'].maxReplicas;
  });
  expect(schemaProblems(missing).join('\n')).toMatch(/HorizontalPodAutoscaler\/atelier-writer-agent: .*maxReplicas/);

  expect(schemaProblems([{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }])).toEqual([
    'example.com/v1/Widget/w: no schema for example.com/v1/Widget',
  ]);
});

test('restricted profile: root user, privilege escalation, writable root, missing limits', () => {
  const objects = broken('Deployment', 'atelier-orchestrator', (object) => {
    const pod = orchestratorPod(object);
    pod.securityContext.runAsUser = 0;
    pod.containers[0].securityContext.allowPrivilegeEscalation = true;
    pod.containers[0].securityContext.readOnlyRootFilesystem = false;
    delete pod.containers[0].resources.limits;
  });
  const problems = workloads(objects).flatMap((workload) => restrictedProblems(workload));
  expect(problems).toEqual([
    expect.stringContaining('runAsUser must be a numeric non-root uid, got 0'),
    expect.stringContaining('allowPrivilegeEscalation is not false'),
    expect.stringContaining('root filesystem is writable'),
    expect.stringContaining('no cpu limit'),
    expect.stringContaining('no memory limit'),
  ]);
});

test('probes: a missing readiness probe, liveness on the readiness endpoint, a probe on another port', () => {
  const objects = broken('Deployment', 'atelier-writer-agent', (object) => {
    const container = object['spec'].template.spec.containers[0];
    delete container.readinessProbe;
    container.livenessProbe.httpGet.path = '/health/ready';
    container.startupProbe.httpGet.port = 9090;
  });
  const writer = workloads(objects).find(({ object }) => object.metadata.name === 'atelier-writer-agent');
  expect(writer && probeProblems(writer)).toEqual([
    expect.stringContaining('startupProbe on /health/live port 9090, expected /health/live port http'),
    expect.stringContaining('livenessProbe on /health/ready port http, expected /health/live port http'),
    expect.stringContaining('no HTTP readinessProbe'),
  ]);
});

test('grace period: one that covers SHUTDOWN_GRACE_MS but not the close margin, one that forgets the preStop pause', () => {
  const grace = (name: string, seconds: number) =>
    workloads(
      broken('Deployment', name, (object) => {
        object['spec'].template.spec.terminationGracePeriodSeconds = seconds;
      }),
    ).find(({ object }) => object.metadata.name === name);
  // The chart's old formula: ceil(SHUTDOWN_GRACE_MS) + 10 s, while the process may take 10 + 15 s.
  const writer = grace('atelier-writer-agent', 20);
  expect(writer && gracePeriodProblems(writer, 10_000, 15_000)).toEqual([
    'apps/v1/Deployment/atelier-writer-agent: terminationGracePeriodSeconds 20 does not outlast preStop 0 ms + SHUTDOWN_GRACE_MS 10000 + close margin 15000 ms',
  ]);
  const orchestrator = grace('atelier-orchestrator', 25);
  expect(orchestrator && gracePeriodProblems(orchestrator, 10_000, 15_000)).toEqual([expect.stringContaining('preStop 5000 ms')]);
});

test('disruption: a Deployment without a budget, an autoscaler allowed down to one replica', () => {
  const noBudget = structuredClone(pristine).filter(
    (object) => !(object.kind === 'PodDisruptionBudget' && object.metadata.name === 'atelier-research-agent'),
  );
  expect(disruptionProblems(noBudget)).toEqual([expect.stringContaining('atelier-research-agent: no PodDisruptionBudget')]);
  const single = broken('HorizontalPodAutoscaler', 'atelier-orchestrator', (object) => {
    object['spec'].minReplicas = 1;
  });
  expect(disruptionProblems(single)).toEqual([expect.stringContaining('minimum 1 replicas, at least 2 needed')]);
});

test('autoscaling: another agent queue, a stream that is not the one in libs/contracts, a missing target', () => {
  const crossed = broken('HorizontalPodAutoscaler', 'atelier-research-agent', (object) => {
    object['spec'].metrics[0].external.metric.selector.matchLabels.agent = 'writer';
  });
  expect(autoscalerProblems(crossed)).toEqual([expect.stringContaining('reads the queue of another agent than research')]);

  const renamed = broken(
    'ScaledObject',
    'atelier-writer-agent',
    (object) => {
      object['spec'].triggers[0].metadata.stream = 'AGENT_WRITERS';
    },
    pristineKeda,
  );
  expect(autoscalerProblems(renamed)).toEqual([
    `keda.sh/v1alpha1/ScaledObject/atelier-writer-agent: stream AGENT_WRITERS, contracts say ${CONSUMERS.writer.stream}`,
  ]);

  const orphan = broken('HorizontalPodAutoscaler', 'atelier-orchestrator', (object) => {
    object['spec'].scaleTargetRef.name = 'atelier-api';
  });
  expect(autoscalerProblems(orphan)).toEqual([expect.stringContaining('targets apps/v1/Deployment/atelier-api, which is not a rendered apps/v1 Deployment')]);

  const wrongKind = broken('HorizontalPodAutoscaler', 'atelier-research-agent', (object) => {
    object['spec'].scaleTargetRef.kind = 'StatefulSet';
  });
  expect(autoscalerProblems(wrongKind)).toEqual([expect.stringContaining('targets apps/v1/StatefulSet/atelier-research-agent')]);

  const oldApi = broken(
    'ScaledObject',
    'atelier-writer-agent',
    (object) => {
      object['spec'].scaleTargetRef.apiVersion = 'extensions/v1beta1';
    },
    pristineKeda,
  );
  expect(autoscalerProblems(oldApi)).toEqual([expect.stringContaining('targets extensions/v1beta1/Deployment/atelier-writer-agent')]);
});

test('network: no default-deny policy', () => {
  const open = structuredClone(pristine).filter((object) => object.metadata.name !== 'atelier-default-deny');
  expect(networkPolicyProblems(open)).toEqual(['no default-deny NetworkPolicy']);
});

test('network: an orchestrator that lets only API callers in shuts out Prometheus and the helm test pod', () => {
  const apiOnly = broken(
    'NetworkPolicy',
    'atelier-orchestrator',
    (object) => {
      object['spec'].ingress = object['spec'].ingress.slice(0, 1);
    },
    pristineLocked,
  );
  expect(scrapeProblems(apiOnly, [prometheus], NAMESPACE)).toEqual([
    'v1/Service/atelier-orchestrator port http: pods {"app.kubernetes.io/name":"prometheus"} of namespace monitoring cannot reach apps/v1/Deployment/atelier-orchestrator',
  ]);
  expect(testPodProblems(apiOnly, NAMESPACE)).toEqual([
    expect.stringMatching(/^v1\/Service\/atelier-orchestrator port http: pods .*"app.kubernetes.io\/component":"test".* cannot reach apps\/v1\/Deployment\/atelier-orchestrator$/),
  ]);
  // A scraper from a namespace metricsFrom does not name stays out, as it should.
  expect(scrapeProblems(pristineLocked, [podIn('elsewhere')], NAMESPACE)).toHaveLength(3);
});

test('network: a test pod whose own egress does not reach the API port', () => {
  const noEgress = broken(
    'NetworkPolicy',
    'atelier-test',
    (object) => {
      object['spec'].egress[1].ports[0].port = 9999;
    },
    pristineLocked,
  );
  expect(testPodProblems(noEgress, NAMESPACE)).toEqual([expect.stringContaining('cannot reach apps/v1/Deployment/atelier-orchestrator')]);
});

test('migration login: a service reading the owner key, the owner URL in the services’ Secret', () => {
  const reader = broken(
    'Deployment',
    'atelier-orchestrator',
    (object) => {
      const env = object['spec'].template.spec.containers[0].env;
      env.find((variable: Json) => variable.name === 'DATABASE_URL').valueFrom.secretKeyRef.name = 'atelier-migrations';
    },
    pristineLocked,
  );
  expect(migrationLoginProblems(reader)).toEqual([
    "apps/v1/Deployment/atelier-orchestrator container orchestrator: DATABASE_URL reads the migration Job's database login (atelier-migrations/DATABASE_URL)",
  ]);
  const copied = broken(
    'Secret',
    'atelier',
    (object) => {
      object['data'].DATABASE_URL = Buffer.from(OWNER_URL).toString('base64');
    },
    pristineLocked,
  );
  expect(migrationLoginProblems(copied)).toEqual([
    expect.stringContaining('research-agent: DATABASE_URL reads the migration Job'),
    expect.stringContaining('writer-agent: DATABASE_URL reads the migration Job'),
    expect.stringContaining('orchestrator: DATABASE_URL reads the migration Job'),
    "v1/Secret/atelier: holds the migration Job's database URL",
  ]);
});

test('secrets: a secret value in a ConfigMap, a secret variable as a literal env value', () => {
  const leaked = broken('ConfigMap', 'atelier-orchestrator', (object) => {
    object['data'].EXTRA = 'postgresql://u:hunter2-secret@db:5432/atelier';
  });
  expect(secretLeakProblems(leaked, ['hunter2-secret'], ['DATABASE_URL'])).toEqual([
    'v1/ConfigMap/atelier-orchestrator: EXTRA contains a secret value',
  ]);
  const literal = broken('Deployment', 'atelier-research-agent', (object) => {
    object['spec'].template.spec.containers[0].env.push({ name: 'DATABASE_URL', value: 'postgresql://elsewhere' });
  });
  expect(secretLeakProblems(literal, [], ['DATABASE_URL'])).toEqual([
    'apps/v1/Deployment/atelier-research-agent container research-agent: DATABASE_URL is a literal secret',
  ]);
});
