import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { kubeTools } from './kube-tools';
import { CHART_DIR, workspaceRoot } from './workspace';

/** One Kubernetes object as rendered, with the YAML text it came from (comments kept). */
export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface RenderedDocument {
  object: RenderedObject;
  /** The document's own text, as helm or kustomize printed it. */
  text: string;
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function run(binary: string, args: string[]): RunResult {
  const result = spawnSync(binary, args, { cwd: workspaceRoot(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

function runOrThrow(binary: string, args: string[]): string {
  const result = run(binary, args);
  if (result.status !== 0) throw new Error(`${binary.split('/').pop()} ${args.join(' ')} failed:\n${result.stderr}`);
  return result.stdout;
}

export interface ChartValues {
  /** Values files, relative to the workspace root. */
  files?: string[];
  /** `--set` pairs. */
  set?: string[];
}

function valueArgs({ files = [], set = [] }: ChartValues): string[] {
  return [...files.flatMap((file) => ['-f', join(workspaceRoot(), file)]), ...set.flatMap((pair) => ['--set', pair])];
}

const templateArgs = (values: ChartValues, release: string) => ['template', release, join(workspaceRoot(), CHART_DIR), ...valueArgs(values)];

/** `helm template` of the chart as release `atelier`; hooks and test pods included. */
export function helmTemplate(values: ChartValues = {}, release = 'atelier'): RenderedDocument[] {
  const { helm } = kubeTools();
  return parseDocuments(runOrThrow(helm, templateArgs(values, release)));
}

/**
 * `helm template` as `helm install` would render, for the caller to read the status and
 * output: a template's `fail` stops it (helm lint only logs those).
 */
export function helmTemplateRun(values: ChartValues = {}, release = 'atelier'): RunResult {
  const { helm } = kubeTools();
  return run(helm, templateArgs(values, release));
}

/** The NOTES.txt `helm install` prints, from a client-side dry run (no cluster needed). */
export function helmNotes(values: ChartValues = {}, release = 'atelier'): string {
  const { helm } = kubeTools();
  const output = runOrThrow(helm, ['install', release, join(workspaceRoot(), CHART_DIR), '--dry-run=client', ...valueArgs(values)]);
  const start = output.indexOf('\nNOTES:\n');
  if (start < 0) throw new Error(`helm install --dry-run printed no NOTES:\n${output}`);
  return output.slice(start + '\nNOTES:\n'.length);
}

/** `helm lint --strict`; the caller reads the status and output. */
export function helmLint(values: ChartValues = {}): RunResult {
  const { helm } = kubeTools();
  return run(helm, ['lint', '--strict', join(workspaceRoot(), CHART_DIR), ...valueArgs(values)]);
}

/** `kubectl kustomize <dir>` (kustomize built into kubectl). */
export function kustomize(dir: string): RenderedDocument[] {
  const { kubectl } = kubeTools();
  return parseDocuments(runOrThrow(kubectl, ['kustomize', dir]));
}

/** Splits a multi-document YAML stream into objects, keeping each document's text. */
export function parseDocuments(stream: string): RenderedDocument[] {
  const documents: RenderedDocument[] = [];
  for (const text of stream.split(/^---[ \t]*$/m)) {
    const [document, ...more] = parseAllDocuments(text);
    if (!document) continue;
    if (more.length > 0) throw new Error(`one document expected in:\n${text}`);
    const [error] = document.errors;
    if (error) throw new Error(`invalid YAML: ${error.message}\n${text}`);
    const object = document.toJS() as RenderedObject | null;
    if (object === null) continue;
    documents.push({ object, text: `${text.trim()}\n` });
  }
  return documents;
}

export function objectId({ apiVersion, kind, metadata }: RenderedObject): string {
  return `${apiVersion}/${kind}/${metadata.name}`;
}

export function isHook(object: RenderedObject): boolean {
  return object.metadata.annotations?.['helm.sh/hook'] !== undefined;
}
