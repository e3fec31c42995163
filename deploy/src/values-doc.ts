import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isSeq, parseDocument, type Node } from 'yaml';
import { CHART_DIR, workspaceRoot } from './workspace';

// The chart README's values table, generated from the `# --` comments of values.yaml
// (the helm-docs convention), so documentation and defaults cannot drift apart.

export interface ValueDoc {
  key: string;
  type: string;
  default: string;
  description: string;
}

/** The `-- ` paragraph of a comment block, or undefined when the key has none. */
function description(comment: string | null | undefined): string | undefined {
  const lines = (comment ?? '').split('\n').map((line) => line.trim());
  const start = lines.findIndex((line) => line.startsWith('-- '));
  if (start < 0) return undefined;
  return [lines[start]?.slice(3), ...lines.slice(start + 1)].join(' ').trim();
}

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return 'list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  return typeof value;
}

/**
 * Every documented key with its type, default and description, and every leaf value
 * that neither it nor a parent documents.
 */
export function documentValues(valuesYaml: string): { documented: ValueDoc[]; undocumented: string[] } {
  const document = parseDocument(valuesYaml);
  const documented: ValueDoc[] = [];
  const undocumented: string[] = [];
  const walk = (node: Node | null, path: string[], parentDocumented: boolean) => {
    if (!isMap(node)) return;
    node.items.forEach((pair, index) => {
      const key = [...path, String((pair.key as { value: unknown }).value)].join('.');
      const comment = (pair.key as Node).commentBefore ?? (index === 0 ? node.commentBefore : undefined);
      const text = description(comment);
      const value = (pair.value as Node | null)?.toJSON() as unknown;
      if (text) documented.push({ key, type: typeOf(value), default: JSON.stringify(value), description: text });
      const isLeaf = !isMap(pair.value) || (pair.value.items.length === 0 && !isSeq(pair.value));
      if (isLeaf && !text && !parentDocumented) undocumented.push(key);
      walk(pair.value as Node | null, [...path, String((pair.key as { value: unknown }).value)], parentDocumented || Boolean(text));
    });
  };
  walk(document.contents as Node | null, [], false);
  return { documented, undocumented };
}

const cell = (text: string) => text.replaceAll('|', '\\|');

export function valuesTable(values: ValueDoc[]): string {
  const rows = values.map((value) => `| \`${value.key}\` | ${value.type} | \`${cell(value.default)}\` | ${cell(value.description)} |`);
  return ['| key | type | default | description |', '|---|---|---|---|', ...rows].join('\n');
}

export const VALUES_MARKERS = { start: '<!-- values:start (npm run chart:docs) -->', end: '<!-- values:end -->' } as const;

/** The chart README with its values table regenerated from values.yaml. */
export function chartReadme(): { path: string; current: string; expected: string } {
  const path = join(workspaceRoot(), CHART_DIR, 'README.md');
  const current = readFileSync(path, 'utf8');
  const { documented } = documentValues(readFileSync(join(workspaceRoot(), CHART_DIR, 'values.yaml'), 'utf8'));
  const start = current.indexOf(VALUES_MARKERS.start);
  const end = current.indexOf(VALUES_MARKERS.end);
  if (start < 0 || end < start) throw new Error(`${path} lacks the values table markers`);
  const expected = `${current.slice(0, start + VALUES_MARKERS.start.length)}\n${valuesTable(documented)}\n${current.slice(end)}`;
  return { path, current, expected };
}

if (require.main === module) {
  const { path, current, expected } = chartReadme();
  if (current !== expected) writeFileSync(path, expected);
  console.log(`${path}: values table ${current === expected ? 'already up to date' : 'regenerated'}`);
}
