import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { join } from 'node:path';
import ts from 'typescript';
import { objectId, type RenderedObject } from '../src/helm';
import { workspaceRoot } from '../src/workspace';

interface Model {
  validate(): void;
}

interface KnownKind {
  create: (data: RenderedObject) => Model;
  /** Module whose `I<Kind>` interface describes the object, for the unknown-field check. */
  types: string;
}

const known = (create: (data: never) => Model, types: string): KnownKind => ({ create: create as KnownKind['create'], types });

/** Every kind the chart and the overlays may render; anything else fails the check. */
const KINDS: Record<string, KnownKind> = {
  'v1/ConfigMap': known((data) => new ConfigMap(data), 'kubernetes-models/v1/ConfigMap'),
  'v1/Namespace': known((data) => new Namespace(data), 'kubernetes-models/v1/Namespace'),
  'v1/Pod': known((data) => new Pod(data), 'kubernetes-models/v1/Pod'),
  'v1/Secret': known((data) => new Secret(data), 'kubernetes-models/v1/Secret'),
  'v1/Service': known((data) => new Service(data), 'kubernetes-models/v1/Service'),
  'v1/ServiceAccount': known((data) => new ServiceAccount(data), 'kubernetes-models/v1/ServiceAccount'),
  'apps/v1/Deployment': known((data) => new Deployment(data), 'kubernetes-models/apps/v1/Deployment'),
  'apps/v1/StatefulSet': known((data) => new StatefulSet(data), 'kubernetes-models/apps/v1/StatefulSet'),
  'batch/v1/Job': known((data) => new Job(data), 'kubernetes-models/batch/v1/Job'),
  'autoscaling/v2/HorizontalPodAutoscaler': known(
    (data) => new HorizontalPodAutoscaler(data),
    'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
  ),
  'policy/v1/PodDisruptionBudget': known((data) => new PodDisruptionBudget(data), 'kubernetes-models/policy/v1/PodDisruptionBudget'),
  'networking.k8s.io/v1/NetworkPolicy': known((data) => new NetworkPolicy(data), 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy'),
  'keda.sh/v1alpha1/ScaledObject': known((data) => new ScaledObject(data), '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject'),
  'monitoring.coreos.com/v1/ServiceMonitor': known(
    (data) => new ServiceMonitor(data),
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
  ),
  'monitoring.coreos.com/v1/PrometheusRule': known(
    (data) => new PrometheusRule(data),
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
  ),
};

const kindKey = ({ apiVersion, kind }: RenderedObject) => `${apiVersion}/${kind}`;

/**
 * A copy as the API server reads it. kustomize wraps long base64 Secret values over
 * several lines; the server's base64 decoder skips line breaks, the validator's `byte`
 * format does not.
 */
function asDecoded(object: RenderedObject): RenderedObject {
  const copy = structuredClone(object);
  if (copy.kind !== 'Secret' || !copy['data']) return copy;
  copy['data'] = Object.fromEntries(
    Object.entries(copy['data'] as Record<string, string>).map(([key, value]) => [key, value.replace(/[\r\n]/g, '')]),
  );
  return copy;
}

/**
 * Problems of each object against the Kubernetes (and KEDA, Prometheus Operator)
 * schemas: an unknown kind, what kubernetes-models' `.validate()` rejects (types,
 * required fields, enums, formats), and, since `.validate()` lets unknown fields
 * through, every field the API types do not declare (a typo like `readinesProbe`).
 */
export function schemaProblems(objects: RenderedObject[]): string[] {
  const problems: string[] = [];
  const checked: RenderedObject[] = [];
  for (const object of objects) {
    const kind = KINDS[kindKey(object)];
    if (!kind) {
      problems.push(`${objectId(object)}: no schema for ${kindKey(object)}`);
      continue;
    }
    try {
      kind.create(asDecoded(object)).validate();
    } catch (error) {
      problems.push(`${objectId(object)}: ${(error as Error).message}`);
    }
    checked.push(object);
  }
  return [...problems, ...unknownFieldProblems(checked)];
}

const parsedLibraries = new Map<string, ts.SourceFile | undefined>();

/**
 * Type-checks each object as a literal of its kubernetes-models interface: TypeScript's
 * excess-property check names every field the API does not have, at any depth.
 */
function unknownFieldProblems(objects: RenderedObject[]): string[] {
  if (objects.length === 0) return [];
  const kinds = [...new Set(objects.map(kindKey))];
  const typeName = (key: string) => `I${key.split('/').pop()}`;
  const imports = kinds.map((key, index) => `import type { ${typeName(key)} as T${index} } from '${KINDS[key].types}';`);
  const firstLine = imports.length;
  const declarations = objects.map((object, index) => `export const o${index}: T${kinds.indexOf(kindKey(object))} = ${JSON.stringify(object)};`);
  const source = [...imports, ...declarations].join('\n');

  const fileName = join(workspaceRoot(), 'deploy', 'test', '__rendered-objects__.ts');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
    lib: ['lib.es2022.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, ...rest) => {
    if (name === fileName) return ts.createSourceFile(name, source, language);
    // The declaration files never change during a run: parse each once.
    if (!parsedLibraries.has(name)) parsedLibraries.set(name, getSourceFile.call(host, name, language, ...rest));
    return parsedLibraries.get(name);
  };
  host.fileExists = (name) => name === fileName || fileExists.call(host, name);
  host.readFile = (name) => (name === fileName ? source : readFile.call(host, name));
  const program = ts.createProgram([fileName], options, host);
  const file = program.getSourceFile(fileName);
  return [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)].map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    if (diagnostic.file?.fileName !== fileName || diagnostic.start === undefined) return message;
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    const object = objects[line - firstLine];
    return object ? `${objectId(object)}: ${message}` : message;
  });
}
