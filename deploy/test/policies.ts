import { AGENTS, CONSUMERS, type AgentName } from '@atelier/contracts';
import { objectId, type RenderedObject } from '../src/helm';
import { canReach, networkPolicies, podIn, selects, type LabelSelector, type PodEndpoint, type Port } from './network-reach';

// Policy checks over rendered objects. Each returns the problems it finds (empty: the
// policy holds), so a failing test names every offending object at once.

type Json = Record<string, unknown>;

interface Container {
  name: string;
  image?: string;
  command?: string[];
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  securityContext?: Json & { capabilities?: { drop?: string[]; add?: string[] } };
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  ports?: Array<{ hostPort?: number; name?: string; containerPort: number }>;
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: SecretKeyRef } & Json }>;
}

interface SecretKeyRef {
  name: string;
  key: string;
  optional?: boolean;
}

interface Probe {
  httpGet?: { path: string; port: string | number };
}

export interface PodSpec {
  securityContext?: Json & { seccompProfile?: { type: string } };
  containers: Container[];
  initContainers?: Container[];
  volumes?: Array<Json & { name: string }>;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
}

export interface Workload {
  object: RenderedObject;
  labels: Record<string, string>;
  pod: PodSpec;
}

const spec = (object: RenderedObject) => (object['spec'] ?? {}) as Json;

/** Deployments, StatefulSets, Jobs and Pods with their pod spec and pod labels. */
export function workloads(objects: RenderedObject[]): Workload[] {
  return objects.flatMap((object): Workload[] => {
    if (object.kind === 'Pod') return [{ object, labels: object.metadata.labels ?? {}, pod: spec(object) as unknown as PodSpec }];
    if (!['Deployment', 'StatefulSet', 'Job'].includes(object.kind)) return [];
    const template = spec(object)['template'] as { metadata?: { labels?: Record<string, string> }; spec: PodSpec };
    return [{ object, labels: template.metadata?.labels ?? {}, pod: template.spec }];
  });
}

const ALLOWED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];

/**
 * The restricted Pod Security Standard, plus our own rules: read-only root filesystem,
 * no service account token, requests and limits for CPU and memory.
 */
export function restrictedProblems({ object, pod }: Workload): string[] {
  const id = objectId(object);
  const problems: string[] = [];
  const podContext = pod.securityContext ?? {};
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push(`${id}: shares a host namespace`);
  if (pod.automountServiceAccountToken !== false) problems.push(`${id}: mounts a service account token`);
  for (const volume of pod.volumes ?? []) {
    const type = Object.keys(volume).find((key) => key !== 'name');
    if (!type || !ALLOWED_VOLUMES.includes(type)) problems.push(`${id}: volume ${volume.name} of type ${type} is not allowed`);
  }
  for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
    const where = `${id} container ${container.name}`;
    const context = container.securityContext ?? {};
    const setting = (key: string) => context[key] ?? podContext[key];
    if (setting('runAsNonRoot') !== true) problems.push(`${where}: runAsNonRoot is not true`);
    const user = setting('runAsUser');
    if (typeof user !== 'number' || user === 0) problems.push(`${where}: runAsUser must be a numeric non-root uid, got ${String(user)}`);
    const seccomp = (setting('seccompProfile') as { type?: string } | undefined)?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') problems.push(`${where}: seccompProfile is ${seccomp}`);
    if (context['privileged'] === true) problems.push(`${where}: privileged`);
    if (context['allowPrivilegeEscalation'] !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
    if (!context.capabilities?.drop?.includes('ALL')) problems.push(`${where}: does not drop ALL capabilities`);
    const added = (context.capabilities?.add ?? []).filter((capability) => capability !== 'NET_BIND_SERVICE');
    if (added.length > 0) problems.push(`${where}: adds capabilities ${added.join(', ')}`);
    if (context['readOnlyRootFilesystem'] !== true) problems.push(`${where}: root filesystem is writable`);
    if (container.ports?.some((port) => port.hostPort)) problems.push(`${where}: uses a host port`);
    for (const kind of ['requests', 'limits'] as const) {
      for (const resource of ['cpu', 'memory']) {
        if (container.resources?.[kind]?.[resource] === undefined) problems.push(`${where}: no ${resource} ${kind.slice(0, -1)}`);
      }
    }
  }
  return problems;
}

/** Room the process needs beside its V8 heap: code, Prisma's wasm engine, buffers. */
const NON_HEAP_MB = 128;

const MEMORY_UNITS: Record<string, number> = { Ki: 1 / 1024, Mi: 1, Gi: 1024, K: 1 / 1048.576, M: 1 / 1.048576, G: 1000 / 1.048576 };

/**
 * Every Deployment's containers run with a V8 heap limit (NODE_OPTIONS from their
 * ConfigMaps) that leaves room below the container's memory limit: without one, V8 sizes
 * its heap from the node's memory and garbage piles up until the container is killed.
 */
export function heapProblems(objects: RenderedObject[]): string[] {
  const configMaps = new Map(objects.filter((object) => object.kind === 'ConfigMap').map((object) => [object.metadata.name, (object['data'] ?? {}) as Record<string, string>]));
  return workloads(objects)
    .filter(({ object }) => object.kind === 'Deployment')
    .flatMap(({ object, pod }) =>
      pod.containers.flatMap((container) => {
        const fromConfig = (container.envFrom ?? []).map((source) => source.configMapRef?.name).filter((name): name is string => name !== undefined);
        const options = [...fromConfig.map((name) => configMaps.get(name)?.['NODE_OPTIONS']), container.env?.find((variable) => variable.name === 'NODE_OPTIONS')?.value]
          .filter((value): value is string => value !== undefined)
          .at(-1);
        const heap = Number(/--max-old-space-size=(\d+)/.exec(options ?? '')?.[1] ?? NaN);
        const limit = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)$/.exec(String(container.resources?.limits?.['memory'] ?? ''));
        const limitMb = limit ? Number(limit[1]) * (MEMORY_UNITS[limit[2] ?? ''] ?? NaN) : NaN;
        if (Number.isNaN(heap)) return [`${objectId(object)} container ${container.name}: no V8 heap limit (NODE_OPTIONS=--max-old-space-size)`];
        if (!(heap + NON_HEAP_MB <= limitMb)) return [`${objectId(object)} container ${container.name}: a ${heap} MB heap leaves less than ${NON_HEAP_MB} MB of its ${container.resources?.limits?.['memory'] ?? 'unset'} memory limit`];
        return [];
      }),
    );
}

/** Atelier's own images write only to /tmp: it must be a mounted emptyDir. */
export function tmpProblems({ object, pod }: Workload): string[] {
  const emptyDirs = new Set((pod.volumes ?? []).filter((volume) => 'emptyDir' in volume).map((volume) => volume.name));
  return pod.containers
    .filter((container) => !container.volumeMounts?.some((mount) => mount.mountPath === '/tmp' && emptyDirs.has(mount.name)))
    .map((container) => `${objectId(object)} container ${container.name}: no emptyDir at /tmp`);
}

/** Health endpoints by component: Atelier's services split liveness from readiness; the simulator has one. */
const HEALTH_PATHS: Record<string, { live: string; ready: string }> = { 'llm-simulator': { live: '/health', ready: '/health' } };
const SERVICE_HEALTH = { live: '/health/live', ready: '/health/ready' };

/**
 * A service has startup and liveness probes on /health/live (no dependencies: a database
 * outage must not restart pods) and a readiness probe on /health/ready, over its named
 * HTTP port.
 */
export function probeProblems({ object, pod, labels }: Workload): string[] {
  const id = objectId(object);
  const paths = HEALTH_PATHS[labels['app.kubernetes.io/component'] ?? ''] ?? SERVICE_HEALTH;
  const expected = { startupProbe: paths.live, livenessProbe: paths.live, readinessProbe: paths.ready } as const;
  const problems: string[] = [];
  for (const container of pod.containers) {
    for (const [probe, path] of Object.entries(expected) as Array<[keyof typeof expected, string]>) {
      const httpGet = container[probe]?.httpGet;
      if (!httpGet) problems.push(`${id} container ${container.name}: no HTTP ${probe}`);
      else if (httpGet.path !== path || httpGet.port !== 'http') {
        problems.push(`${id} container ${container.name}: ${probe} on ${httpGet.path} port ${httpGet.port}, expected ${path} port http`);
      }
    }
  }
  return problems;
}

/**
 * Kubernetes waits terminationGracePeriodSeconds from the start of the preStop hook, then
 * kills. A service must get longer than the most it can take to stop by itself: the
 * preStop pause, then SHUTDOWN_GRACE_MS of draining plus the margin the process gives the
 * rest of its close before it exits on its own (shutdownTimeoutMs in the services' main).
 */
export function gracePeriodProblems({ object, pod }: Workload, shutdownGraceMs: number, processCloseMarginMs: number): string[] {
  const preStopMs = Math.max(0, ...pod.containers.map((container) => (container.lifecycle?.preStop?.sleep?.seconds ?? 0) * 1000));
  const needed = preStopMs + shutdownGraceMs + processCloseMarginMs;
  const grace = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
  if (grace > needed) return [];
  return [
    `${objectId(object)}: terminationGracePeriodSeconds ${grace / 1000} does not outlast preStop ${preStopMs} ms + SHUTDOWN_GRACE_MS ${shutdownGraceMs} + close margin ${processCloseMarginMs} ms`,
  ];
}

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  selector !== undefined && Object.entries(selector).every(([key, value]) => labels[key] === value);

interface ScaleTargetRef {
  name: string;
  kind?: string;
  apiVersion?: string;
}

function autoscalerTargets(objects: RenderedObject[]): Map<string, { object: RenderedObject; min: number; ref: ScaleTargetRef }> {
  const targets = new Map<string, { object: RenderedObject; min: number; ref: ScaleTargetRef }>();
  for (const object of objects) {
    const body = spec(object);
    const ref = body['scaleTargetRef'] as ScaleTargetRef | undefined;
    if (object.kind === 'HorizontalPodAutoscaler' && ref) targets.set(ref.name, { object, ref, min: Number(body['minReplicas'] ?? 1) });
    if (object.kind === 'ScaledObject' && ref) targets.set(ref.name, { object, ref, min: Number(body['minReplicaCount'] ?? 0) });
  }
  return targets;
}

/**
 * Every Deployment has a PodDisruptionBudget; an autoscaled one keeps at least two
 * replicas (so the budget can let one go) and leaves `replicas` to its autoscaler.
 */
export function disruptionProblems(objects: RenderedObject[]): string[] {
  const budgets = objects.filter((object) => object.kind === 'PodDisruptionBudget');
  const targets = autoscalerTargets(objects);
  return workloads(objects)
    .filter(({ object }) => object.kind === 'Deployment')
    .flatMap(({ object, labels }) => {
      const problems: string[] = [];
      const id = objectId(object);
      const selectors = budgets.map((budget) => (spec(budget)['selector'] as { matchLabels?: Record<string, string> }).matchLabels);
      if (!selectors.some((selector) => matches(selector, labels))) problems.push(`${id}: no PodDisruptionBudget selects its pods`);
      const autoscaler = targets.get(object.metadata.name);
      if (autoscaler) {
        if (autoscaler.min < 2) problems.push(`${objectId(autoscaler.object)}: minimum ${autoscaler.min} replicas, at least 2 needed`);
        if (spec(object)['replicas'] !== undefined) problems.push(`${id}: sets replicas although ${objectId(autoscaler.object)} scales it`);
      }
      return problems;
    });
}

/**
 * Agents scale on their own queue: each HPA reads `atelier_queue_depth` for its agent,
 * each ScaledObject reads the agent's stream and durable consumer as named in
 * libs/contracts; the orchestrator scales on CPU; every target is a rendered Deployment.
 */
export function autoscalerProblems(objects: RenderedObject[]): string[] {
  const deployments = new Map(
    objects.filter((object) => object.kind === 'Deployment').map((object) => [object.metadata.name, object] as const),
  );
  const problems: string[] = [];
  for (const [target, { object, ref }] of autoscalerTargets(objects)) {
    const id = objectId(object);
    const deployment = deployments.get(target);
    if (!deployment || ref.kind !== 'Deployment' || ref.apiVersion !== 'apps/v1') {
      problems.push(`${id}: targets ${ref.apiVersion}/${ref.kind}/${target}, which is not a rendered apps/v1 Deployment`);
      continue;
    }
    const component = deployment.metadata.labels?.['app.kubernetes.io/component'];
    const agent = AGENTS.find((name) => component === `${name}-agent`);
    const body = spec(object);
    if (object.kind === 'HorizontalPodAutoscaler') {
      const metrics = body['metrics'] as Array<Json & { type: string }>;
      if (!agent) {
        if (!metrics.every((metric) => metric.type === 'Resource')) problems.push(`${id}: ${component} should scale on CPU`);
        continue;
      }
      const external = metrics.map((metric) => metric['external'] as Json | undefined).find(Boolean) as
        | { metric: { name: string; selector?: { matchLabels?: Record<string, string> } }; target: { type: string } }
        | undefined;
      if (external?.metric.name !== 'atelier_queue_depth') problems.push(`${id}: does not scale on atelier_queue_depth`);
      if (external?.metric.selector?.matchLabels?.['agent'] !== agent) problems.push(`${id}: reads the queue of another agent than ${agent}`);
      if (external?.target.type !== 'AverageValue') problems.push(`${id}: target is not an AverageValue per replica`);
    } else {
      if (!agent) {
        problems.push(`${id}: ScaledObject for ${component}, which is not an agent`);
        continue;
      }
      problems.push(...scaledObjectProblems(object, agent));
    }
  }
  return problems;
}

function scaledObjectProblems(object: RenderedObject, agent: AgentName): string[] {
  const id = objectId(object);
  const body = spec(object);
  const problems: string[] = [];
  const expected = CONSUMERS[agent];
  const triggers = body['triggers'] as Array<{ type: string; metadata: Record<string, string> }>;
  const trigger = triggers.find(({ type }) => type === 'nats-jetstream');
  if (!trigger) return [`${id}: no nats-jetstream trigger`];
  if (trigger.metadata['stream'] !== expected.stream) problems.push(`${id}: stream ${trigger.metadata['stream']}, contracts say ${expected.stream}`);
  if (trigger.metadata['consumer'] !== expected.durable) {
    problems.push(`${id}: consumer ${trigger.metadata['consumer']}, contracts say ${expected.durable}`);
  }
  for (const key of ['natsServerMonitoringEndpoint', 'account', 'lagThreshold', 'activationLagThreshold']) {
    if (!trigger.metadata[key]) problems.push(`${id}: trigger has no ${key}`);
  }
  const fallback = body['fallback'] as { failureThreshold?: number; replicas?: number } | undefined;
  if (!fallback?.failureThreshold || !fallback.replicas) problems.push(`${id}: no fallback replica count for a missing metric`);
  return problems;
}

interface NetworkPolicySpec {
  podSelector: { matchLabels?: Record<string, string> };
  policyTypes?: string[];
  ingress?: unknown[];
  egress?: Array<{ ports?: Array<{ port: number | string; protocol?: string }> }>;
}

/**
 * A default-deny policy (ingress and egress, no rule) selects every pod the chart
 * renders, and every pod allowed to call out is also allowed DNS.
 */
export function networkPolicyProblems(objects: RenderedObject[]): string[] {
  const policies = objects.filter((object) => object.kind === 'NetworkPolicy').map((object) => ({ object, body: spec(object) as unknown as NetworkPolicySpec }));
  const denyAll = policies.filter(
    ({ body }) => body.policyTypes?.includes('Ingress') && body.policyTypes.includes('Egress') && !body.ingress?.length && !body.egress?.length,
  );
  if (denyAll.length === 0) return ['no default-deny NetworkPolicy'];
  return workloads(objects).flatMap(({ object, labels }) => {
    const id = objectId(object);
    const problems: string[] = [];
    if (!denyAll.some(({ body }) => matches(body.podSelector.matchLabels, labels))) problems.push(`${id}: no default-deny policy selects its pods`);
    const egress = policies.filter(({ body }) => matches(body.podSelector.matchLabels, labels)).flatMap(({ body }) => body.egress ?? []);
    const dns = egress.some((rule) => rule.ports?.some(({ port }) => port === 53));
    if (egress.length > 0 && !dns) problems.push(`${id}: may call out but not resolve names (no DNS egress)`);
    return problems;
  });
}

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
}

const namespaceOf = (object: RenderedObject, namespace: string) => (object.metadata as { namespace?: string }).namespace ?? namespace;

/** The pods behind one port of a Service: each workload it selects, with the container port. */
function backends(objects: RenderedObject[], service: RenderedObject, servicePort: ServicePort): Array<{ workload: Workload; port: Port }> {
  const selector = (spec(service) as { selector?: Record<string, string> }).selector;
  const target = servicePort.targetPort ?? servicePort.port;
  if (!selector) return [];
  return workloads(objects)
    .filter(({ labels }) => selects({ matchLabels: selector }, labels))
    .flatMap((workload) =>
      workload.pod.containers
        .flatMap((container) => container.ports ?? [])
        .filter(({ name, containerPort }) => name === target || containerPort === target)
        .map(({ name, containerPort }) => ({ workload, port: { number: containerPort, name } })),
    );
}

const describePod = ({ namespace, labels }: PodEndpoint) => `pods ${JSON.stringify(labels)} of namespace ${namespace}`;

/** Who cannot reach the pods behind a Service port: one problem per caller and workload. */
function unreachable(objects: RenderedObject[], namespace: string, callers: PodEndpoint[], service: RenderedObject, servicePort: ServicePort): string[] {
  const policies = networkPolicies(objects, namespace);
  const behind = backends(objects, service, servicePort);
  if (behind.length === 0) return [`${objectId(service)} port ${servicePort.name ?? servicePort.port}: no pod behind it`];
  return behind.flatMap(({ workload, port }) =>
    callers
      .filter((caller) => !canReach(policies, caller, podIn(namespaceOf(workload.object, namespace), workload.labels), port))
      .map((caller) => `${objectId(service)} port ${servicePort.name ?? servicePort.port}: ${describePod(caller)} cannot reach ${objectId(workload.object)}`),
  );
}

/**
 * Every Service a ServiceMonitor scrapes lets the scrapers in, on the scraped port. The
 * orchestrator above all: it alone exports atelier_queue_depth, the agents' HPA metric.
 * `scrapers`: pods standing for networkPolicy.metricsFrom.
 */
export function scrapeProblems(objects: RenderedObject[], scrapers: PodEndpoint[], namespace: string): string[] {
  return objects
    .filter(({ kind }) => kind === 'ServiceMonitor')
    .flatMap((monitor) => {
      const body = spec(monitor) as { selector: LabelSelector; endpoints: Array<{ port?: string }> };
      const services = objects.filter((object) => object.kind === 'Service' && selects(body.selector, object.metadata.labels ?? {}));
      if (services.length === 0) return [`${objectId(monitor)}: selects no Service`];
      return services.flatMap((service) =>
        body.endpoints.flatMap(({ port }) => {
          const servicePort = (spec(service)['ports'] as ServicePort[]).find(({ name }) => name === port);
          if (!servicePort) return [`${objectId(service)}: no port ${port}, which ${objectId(monitor)} scrapes`];
          return unreachable(objects, namespace, scrapers, service, servicePort);
        }),
      );
    });
}

/** Each `helm test` pod can reach the Service and port its URL names. */
export function testPodProblems(objects: RenderedObject[], namespace: string): string[] {
  return workloads(objects)
    .filter(({ object }) => object.kind === 'Pod' && object.metadata.annotations?.['helm.sh/hook'] === 'test')
    .flatMap(({ object, pod, labels }) => {
      const url = pod.containers
        .flatMap((container) => container.command ?? [])
        .map((arg) => /^https?:\/\/([^/:]+)(?::(\d+))?/.exec(arg))
        .find(Boolean);
      if (!url) return [`${objectId(object)}: calls no http:// URL`];
      const [, host, port = '80'] = url;
      const service = objects.find(({ kind, metadata }) => kind === 'Service' && metadata.name === host);
      if (!service) return [`${objectId(object)}: calls ${host}, which is not a rendered Service`];
      const servicePort = (spec(service)['ports'] as ServicePort[]).find((candidate) => candidate.port === Number(port));
      if (!servicePort) return [`${objectId(object)}: calls port ${port}, which ${objectId(service)} does not serve`];
      return unreachable(objects, namespace, [podIn(namespaceOf(object, namespace), labels)], service, servicePort);
    });
}

/** Decoded data of the rendered Secret called `name`. */
function secretData(objects: RenderedObject[], name: string): Record<string, string> | undefined {
  const secret = objects.find((object) => object.kind === 'Secret' && object.metadata.name === name);
  if (!secret) return undefined;
  const data = (secret['data'] as Record<string, string> | undefined) ?? {};
  return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]));
}

/**
 * The migration Job's login (the schema owner's, which can disable the audit triggers)
 * reaches no service: no Deployment reads the Secret key the Job takes DATABASE_URL from,
 * nor any key holding the same URL, and no Secret but the Job's hook Secret holds it.
 * For installs that give the Job a login of its own.
 */
export function migrationLoginProblems(objects: RenderedObject[]): string[] {
  const job = workloads(objects).find(({ object, labels }) => object.kind === 'Job' && labels['app.kubernetes.io/component'] === 'migrations');
  if (!job) return ['no migration Job'];
  const ref = job.pod.containers.flatMap((container) => container.env ?? []).find(({ name }) => name === 'DATABASE_URL')?.valueFrom?.secretKeyRef;
  if (!ref) return [`${objectId(job.object)}: DATABASE_URL does not come from a Secret`];
  const valueOf = ({ name, key }: SecretKeyRef) => secretData(objects, name)?.[key];
  const ownerUrl = valueOf(ref);
  const problems: string[] = [];
  for (const { object, pod } of workloads(objects).filter(({ object: candidate }) => candidate.kind === 'Deployment')) {
    for (const container of pod.containers) {
      for (const { name, valueFrom } of container.env ?? []) {
        const read = valueFrom?.secretKeyRef;
        if (!read) continue;
        if ((read.name === ref.name && read.key === ref.key) || (ownerUrl !== undefined && valueOf(read) === ownerUrl)) {
          problems.push(`${objectId(object)} container ${container.name}: ${name} reads the migration Job's database login (${read.name}/${read.key})`);
        }
      }
    }
  }
  for (const secret of objects.filter((object) => object.kind === 'Secret' && object.metadata.name !== ref.name)) {
    if (ownerUrl !== undefined && Object.values(secretData(objects, secret.metadata.name) ?? {}).includes(ownerUrl)) {
      problems.push(`${objectId(secret)}: holds the migration Job's database URL`);
    }
  }
  return problems;
}

/** Secret values (decoded) of the rendered Secrets. */
export function secretValues(objects: RenderedObject[]): string[] {
  return objects
    .filter((object) => object.kind === 'Secret')
    .flatMap((object) => [
      ...Object.values((object['data'] as Record<string, string> | undefined) ?? {}).map((value) => Buffer.from(value, 'base64').toString('utf8')),
      ...Object.values((object['stringData'] as Record<string, string> | undefined) ?? {}),
    ]);
}

/**
 * No secret reaches a ConfigMap or a literal env value: not by value (any of `secrets`),
 * not by name (the secret variables belong in Secrets).
 */
export function secretLeakProblems(objects: RenderedObject[], secrets: string[], secretVariables: readonly string[]): string[] {
  const problems: string[] = [];
  const leaks = (text: string) => secrets.some((secret) => secret.length >= 4 && text.includes(secret));
  for (const object of objects.filter(({ kind }) => kind === 'ConfigMap')) {
    for (const [key, value] of Object.entries((object['data'] as Record<string, string> | undefined) ?? {})) {
      if (secretVariables.includes(key)) problems.push(`${objectId(object)}: holds secret variable ${key}`);
      if (leaks(value)) problems.push(`${objectId(object)}: ${key} contains a secret value`);
    }
  }
  for (const { object, pod } of workloads(objects)) {
    for (const container of pod.containers) {
      for (const variable of container.env ?? []) {
        if (variable.value !== undefined && (secretVariables.includes(variable.name) || leaks(variable.value))) {
          problems.push(`${objectId(object)} container ${container.name}: ${variable.name} is a literal secret`);
        }
      }
    }
  }
  return problems;
}
