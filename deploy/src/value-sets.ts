import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ChartValues } from './helm';
import { CHART_DIR, workspaceRoot } from './workspace';

export interface ValueSet {
  name: string;
  values: ChartValues;
}

/**
 * The value sets every chart check runs over: the defaults, the switches that change
 * what is rendered (autoscaling engine, autoscaling off, an existing Secret), and every
 * scenario in helm/atelier/ci/.
 */
export function chartValueSets(): ValueSet[] {
  const ciDir = join(CHART_DIR, 'ci');
  const scenarios = readdirSync(join(workspaceRoot(), ciDir))
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => ({ name: `ci/${file}`, values: { files: [join(ciDir, file)] } }));
  return [
    { name: 'defaults', values: {} },
    { name: 'keda', values: { set: ['autoscaling.engine=keda'] } },
    { name: 'autoscaling off', values: { set: ['autoscaling.enabled=false'] } },
    { name: 'existingSecret', values: { set: ['secrets.existingSecret=atelier-credentials'] } },
    ...scenarios,
  ];
}
