// The workspace root, whether this runs from deploy/src (jest) or dist/deploy/src (scripts).
export { repoRoot as workspaceRoot } from '@atelier/testing';

export const CHART_DIR = 'helm/atelier';
export const K8S_DIR = 'k8s';
