import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartReadme, documentValues } from '../src/values-doc';
import { CHART_DIR, workspaceRoot } from '../src/workspace';

// Every chart value is documented in values.yaml (`# --`), and the README's table is
// generated from it.

const valuesYaml = readFileSync(join(workspaceRoot(), CHART_DIR, 'values.yaml'), 'utf8');

test('every value of values.yaml is documented, by itself or by its parent', () => {
  const { documented, undocumented } = documentValues(valuesYaml);
  expect(undocumented).toEqual([]);
  expect(documented.map(({ key }) => key)).toEqual(expect.arrayContaining(['autoscaling.engine', 'secrets.existingSecret', 'config']));
});

test('the check names a value without a comment', () => {
  const { undocumented } = documentValues('# -- documented\na: 1\nb:\n  c: 2\n  # -- documented\n  d: 3\n');
  expect(undocumented).toEqual(['b.c']);
});

test('helm/atelier/README.md carries the current values table (npm run chart:docs)', () => {
  const { current, expected } = chartReadme();
  expect(current).toBe(expected);
});
