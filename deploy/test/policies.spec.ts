import { CONSUMERS } from '@atelier/contracts';
import { helmTemplate, type RenderedObject } from '../src/helm';
import { schemaProblems } from './kubernetes-schemas';
import {
  autoscalerProblems,
  disruptionProblems,
  networkPolicyProblems,
  restrictedProblems,
  secretLeakProblems,
  serviceProbeProblems,
  workloads,
} from './policies';

// The chart checks are only worth something if they fail on a bad chart: each case
// below breaks one thing in a real render and expects the matching check to name it.

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- free-form edits of rendered YAML

let pristine: RenderedObject[];
let pristineKeda: RenderedObject[];

beforeAll(() => {
  pristine = helmTemplate({ set: ['secrets.databaseUrl=postgresql://u:hunter2-secret@db:5432/atelier'] }).map(({ object }) => object);
  pristineKeda = helmTemplate({ set: ['autoscaling.engine=keda'] }).map(({ object }) => object);
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

test('probes: a missing readiness probe and a grace period shorter than the shutdown drain', () => {
  const objects = broken('Deployment', 'atelier-writer-agent', (object) => {
    const pod = object['spec'].template.spec;
    delete pod.containers[0].readinessProbe;
    pod.terminationGracePeriodSeconds = 5;
  });
  const writer = workloads(objects).find(({ object }) => object.metadata.name === 'atelier-writer-agent');
  expect(writer && serviceProbeProblems(writer, 10_000)).toEqual([
    expect.stringContaining('no HTTP readinessProbe'),
    expect.stringContaining('terminationGracePeriodSeconds 5 is not above SHUTDOWN_GRACE_MS 10000'),
  ]);
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
  expect(autoscalerProblems(orphan)).toEqual([expect.stringContaining('targets atelier-api, which is not a rendered Deployment')]);
});

test('network: no default-deny policy', () => {
  const open = structuredClone(pristine).filter((object) => object.metadata.name !== 'atelier-default-deny');
  expect(networkPolicyProblems(open)).toEqual(['no default-deny NetworkPolicy']);
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
