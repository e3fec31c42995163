import { AGENTS, CONSUMERS, type AgentName } from '@atelier/contracts';
import { objectId, type RenderedObject } from '../src/helm';

// Policy checks over rendered objects. Each returns the problems it finds (empty: the
// policy holds), so a failing test names every offending object at once.

type Json = Record<string, unknown>;

interface Container {
  name: string;
  securityContext?: Json & { capabilities?: { drop?: string[]; add?: string[] } };
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  ports?: Array<{ hostPort?: number; name?: string; containerPort: number }>;
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  env?: Array<{ name: string; value?: string; valueFrom?: Json }>;
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

/** Atelier's own images write only to /tmp: it must be a mounted emptyDir. */
export function tmpProblems({ object, pod }: Workload): string[] {
  const emptyDirs = new Set((pod.volumes ?? []).filter((volume) => 'emptyDir' in volume).map((volume) => volume.name));
  return pod.containers
    .filter((container) => !container.volumeMounts?.some((mount) => mount.mountPath === '/tmp' && emptyDirs.has(mount.name)))
    .map((container) => `${objectId(object)} container ${container.name}: no emptyDir at /tmp`);
}

/**
 * A service has startup, liveness and readiness probes on its health endpoints over
 * the named HTTP port, and stops later than its SHUTDOWN_GRACE_MS.
 */
export function serviceProbeProblems({ object, pod }: Workload, shutdownGraceMs: number): string[] {
  const id = objectId(object);
  const problems: string[] = [];
  for (const container of pod.containers) {
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
      const httpGet = container[probe]?.httpGet;
      if (!httpGet) problems.push(`${id} container ${container.name}: no HTTP ${probe}`);
      else if (!httpGet.path.startsWith('/health') || httpGet.port !== 'http') {
        problems.push(`${id} container ${container.name}: ${probe} on ${httpGet.path} port ${httpGet.port}`);
      }
    }
  }
  if ((pod.terminationGracePeriodSeconds ?? 30) * 1000 <= shutdownGraceMs) {
    problems.push(`${id}: terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} is not above SHUTDOWN_GRACE_MS ${shutdownGraceMs}`);
  }
  return problems;
}

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  selector !== undefined && Object.entries(selector).every(([key, value]) => labels[key] === value);

function autoscalerTargets(objects: RenderedObject[]): Map<string, { object: RenderedObject; min: number }> {
  const targets = new Map<string, { object: RenderedObject; min: number }>();
  for (const object of objects) {
    const body = spec(object);
    const ref = body['scaleTargetRef'] as { name: string; kind?: string } | undefined;
    if (object.kind === 'HorizontalPodAutoscaler' && ref) targets.set(ref.name, { object, min: Number(body['minReplicas'] ?? 1) });
    if (object.kind === 'ScaledObject' && ref) targets.set(ref.name, { object, min: Number(body['minReplicaCount'] ?? 0) });
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
  for (const [target, { object }] of autoscalerTargets(objects)) {
    const id = objectId(object);
    const deployment = deployments.get(target);
    if (!deployment) {
      problems.push(`${id}: targets ${target}, which is not a rendered Deployment`);
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
