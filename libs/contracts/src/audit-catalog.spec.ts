import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_ACTIONS } from './audit';

// docs/audit.md is the catalog's documentation: every action in AUDIT_ACTIONS has a
// section saying when it is written, by whom, about what and with which data.

const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'audit.md'), 'utf8');
const catalog = doc.slice(doc.indexOf('## The catalog'), doc.indexOf('\n## ', doc.indexOf('## The catalog') + 1));
const sections = new Map(
  catalog
    .split(/^### /m)
    .slice(1)
    .map((section) => [/^`([^`]+)`/.exec(section)?.[1] ?? section.split('\n')[0], section] as const),
);

describe('the audit catalog in docs/audit.md', () => {
  it('documents every action of AUDIT_ACTIONS, and only those', () => {
    expect([...sections.keys()].sort()).toEqual([...AUDIT_ACTIONS].sort());
  });

  it.each([...AUDIT_ACTIONS])('says when %s is written, its actor, subject and data', (action) => {
    const section = sections.get(action) ?? '';
    for (const part of ['**When**', '**Actor**', '**Subject**', '**Data**']) expect(section).toContain(`- ${part}`);
  });
});
