import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { ChartValues } from './helm';
import { CHART_DIR, workspaceRoot } from './workspace';

export interface ValueSet {
  name: string;
  values: ChartValues;
}

/**
 * What every install must name (the chart refuses to render without them): the registry
 * of the images and a database. Nothing else is required.
 */
export const REQUIRED_VALUES: readonly string[] = [
  'image.registry=registry.example.com',
  'secrets.databaseUrl=postgresql://atelier:change-me@postgres.db.svc:5432/atelier',
];

/** The required values plus these `--set` pairs. */
export function withRequired(...set: string[]): ChartValues {
  return { set: [...REQUIRED_VALUES, ...set] };
}

/**
 * The value sets every chart check runs over: the defaults (with the required values),
 * the switches that change what is rendered (autoscaling engine, autoscaling off, an
 * existing Secret), and every scenario in helm/atelier/ci/ (each a complete install).
 */
export function chartValueSets(): ValueSet[] {
  const ciDir = join(CHART_DIR, 'ci');
  const scenarios = readdirSync(join(workspaceRoot(), ciDir))
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => ({ name: `ci/${file}`, values: { files: [join(ciDir, file)] } }));
  return [
    { name: 'defaults', values: withRequired() },
    { name: 'keda', values: withRequired('autoscaling.engine=keda') },
    { name: 'autoscaling off', values: withRequired('autoscaling.enabled=false') },
    { name: 'existingSecret', values: { set: ['image.registry=registry.example.com', 'secrets.existingSecret=atelier-credentials'] } },
    ...scenarios,
  ];
}

type Values = Record<string, unknown>;

const isMap = (value: unknown): value is Values => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Helm's coalescing: maps merge key by key, anything else replaces. */
function merge(base: Values, override: Values): Values {
  const merged: Values = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const before = merged[key];
    merged[key] = isMap(before) && isMap(value) ? merge(before, value) : value;
  }
  return merged;
}

/**
 * The values helm renders a value set with: values.yaml, then each file, then each
 * `--set` (dotted keys, YAML scalars), for checks that need to know what was asked for.
 */
export function mergedValues({ files = [], set = [] }: ChartValues): Values {
  const read = (path: string) => parse(readFileSync(join(workspaceRoot(), path), 'utf8')) as Values;
  let values = [join(CHART_DIR, 'values.yaml'), ...files].map(read).reduce(merge, {});
  for (const pair of set) {
    const at = pair.indexOf('=');
    const path = pair.slice(0, at).split('.');
    const leaf = path.reduceRight<unknown>((value, key) => ({ [key]: value }), parse(pair.slice(at + 1)));
    values = merge(values, leaf as Values);
  }
  return values;
}
