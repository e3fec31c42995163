import type { RenderedObject } from '../src/helm';

// What NetworkPolicies allow between two pods, as Kubernetes defines it: a pod that no
// policy of a direction selects is open in that direction; a selected pod lets traffic
// through when some rule of a selecting policy admits the other pod on the port. Traffic
// needs the source's egress and the destination's ingress. ipBlock peers never match a
// pod here: they are for addresses outside the cluster.

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}

export interface Peer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string };
}

interface Rule {
  ports?: Array<{ port?: number | string; endPort?: number; protocol?: string }>;
  from?: Peer[];
  to?: Peer[];
}

export interface Policy {
  name: string;
  namespace: string;
  podSelector: LabelSelector;
  policyTypes: string[];
  ingress: Rule[];
  egress: Rule[];
}

/** A pod as traffic sees it. */
export interface PodEndpoint {
  namespace: string;
  namespaceLabels: Record<string, string>;
  labels: Record<string, string>;
}

/** A TCP container port, by number and (optional) name. */
export interface Port {
  number: number;
  name?: string;
}

const NAMESPACE_NAME = 'kubernetes.io/metadata.name';

export function selects(selector: LabelSelector, labels: Record<string, string>): boolean {
  const exact = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  return (
    exact &&
    (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
      const value = labels[key];
      if (operator === 'In') return value !== undefined && values.includes(value);
      if (operator === 'NotIn') return value === undefined || !values.includes(value);
      if (operator === 'Exists') return value !== undefined;
      return value === undefined;
    })
  );
}

/** The rendered NetworkPolicies; an object without a namespace is in `namespace`. */
export function networkPolicies(objects: RenderedObject[], namespace: string): Policy[] {
  return objects
    .filter(({ kind }) => kind === 'NetworkPolicy')
    .map((object) => {
      const body = object['spec'] as Omit<Policy, 'name' | 'namespace' | 'policyTypes'> & { policyTypes?: string[] };
      const egress = body.egress ?? [];
      return {
        name: object.metadata.name,
        namespace: (object.metadata as { namespace?: string }).namespace ?? namespace,
        podSelector: body.podSelector,
        policyTypes: body.policyTypes ?? ['Ingress', ...(egress.length > 0 ? ['Egress'] : [])],
        ingress: body.ingress ?? [],
        egress,
      };
    });
}

/** A pod in the namespace of `namespace`, with the labels Kubernetes gives every namespace. */
export function podIn(namespace: string, labels: Record<string, string> = {}): PodEndpoint {
  return { namespace, namespaceLabels: { [NAMESPACE_NAME]: namespace }, labels };
}

function peerAdmits(peer: Peer, policyNamespace: string, other: PodEndpoint): boolean {
  if (peer.ipBlock) return false;
  const namespace = peer.namespaceSelector ? selects(peer.namespaceSelector, other.namespaceLabels) : other.namespace === policyNamespace;
  return namespace && selects(peer.podSelector ?? {}, other.labels);
}

function portAdmits(ports: Rule['ports'], port: Port): boolean {
  if (!ports?.length) return true;
  return ports.some(({ port: allowed, endPort, protocol = 'TCP' }) => {
    if (protocol !== 'TCP') return false;
    if (allowed === undefined || allowed === port.number || allowed === port.name) return true;
    return typeof allowed === 'number' && endPort !== undefined && port.number >= allowed && port.number <= endPort;
  });
}

function admitted(policies: Policy[], direction: 'Ingress' | 'Egress', subject: PodEndpoint, other: PodEndpoint, port: Port): boolean {
  const selecting = policies.filter(
    (policy) => policy.namespace === subject.namespace && policy.policyTypes.includes(direction) && selects(policy.podSelector, subject.labels),
  );
  if (selecting.length === 0) return true;
  return selecting.some((policy) =>
    (direction === 'Ingress' ? policy.ingress : policy.egress).some((rule) => {
      const peers = (direction === 'Ingress' ? rule.from : rule.to) ?? [];
      return portAdmits(rule.ports, port) && (peers.length === 0 || peers.some((peer) => peerAdmits(peer, policy.namespace, other)));
    }),
  );
}

export function canReach(policies: Policy[], from: PodEndpoint, to: PodEndpoint, port: Port): boolean {
  return admitted(policies, 'Egress', from, to, port) && admitted(policies, 'Ingress', to, from, port);
}

/** Labels that satisfy a selector (the first that fit). */
function labelsFor(selector: LabelSelector = {}): Record<string, string> {
  const labels = { ...selector.matchLabels };
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    if (operator === 'In' && values[0] !== undefined) labels[key] = values[0];
    if (operator === 'Exists') labels[key] = 'present';
  }
  return labels;
}

/**
 * A pod that a peer (as written in values, relative to `namespace`) names: the caller it
 * stands for. Undefined for ipBlock peers, which name addresses, not pods.
 */
export function podOfPeer(peer: Peer, namespace: string): PodEndpoint | undefined {
  if (peer.ipBlock) return undefined;
  if (!peer.namespaceSelector) return podIn(namespace, labelsFor(peer.podSelector));
  const namespaceLabels = labelsFor(peer.namespaceSelector);
  const name = namespaceLabels[NAMESPACE_NAME] ?? 'another-namespace';
  return { namespace: name, namespaceLabels: { ...namespaceLabels, [NAMESPACE_NAME]: name }, labels: labelsFor(peer.podSelector) };
}
