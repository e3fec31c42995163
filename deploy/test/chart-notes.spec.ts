import { helmNotes } from '../src/helm';
import { withRequired } from '../src/value-sets';

// NOTES.txt, what `helm install` prints: how to reach the API and mint a key, and a
// warning for each setting that leaves the install weaker than it looks.

const BOOTSTRAP = 'secrets.bootstrapApiKey=notes-bootstrap-admin-key-0123456789';
const OWNER = 'secrets.migrationDatabaseUrl=postgresql://owner:secret@db:5432/atelier';

test('a complete install: how to reach the API and mint a key, and no warning', () => {
  const notes = helmNotes(withRequired(BOOTSTRAP, OWNER, 'secrets.anthropicApiKey=sk-ant-notes'));
  expect(notes).toContain('kubectl -n default port-forward svc/atelier-orchestrator 8080:8080');
  expect(notes).toContain("jsonpath='{.data.ATELIER_BOOTSTRAP_API_KEY}'");
  expect(notes).not.toContain('WARNING');
  expect(notes).not.toContain('notes-bootstrap-admin-key');
});

test('no bootstrap key: the mint step says no key can be minted yet and how to set one', () => {
  const notes = helmNotes(withRequired(OWNER));
  expect(notes).toMatch(/WARNING: no bootstrap admin key is set \(secrets\.bootstrapApiKey\), so no key can be\s+minted yet/);
  expect(notes).toContain('--reset-then-reuse-values');
  expect(notes).toContain('--set secrets.bootstrapApiKey="$(openssl rand -hex 24)"');
});

test('one database login for the services and the migrations: a warning naming the value to set', () => {
  expect(helmNotes(withRequired(BOOTSTRAP))).toMatch(/WARNING: the services and the migration Job use the same database login[\s\S]*secrets\.migrationDatabaseUrl\./);
  const existing = helmNotes({ set: ['image.registry=registry.example.com', 'secrets.existingSecret=credentials'] });
  expect(existing).toMatch(/same database login[\s\S]*Secret credentials named by secrets\.keys\.migrationDatabaseUrl/);
  const separate = helmNotes({ set: ['image.registry=registry.example.com', 'secrets.existingSecret=credentials', 'secrets.keys.migrationDatabaseUrl=OWNER_URL'] });
  expect(separate).not.toContain('same database login');
});

test('a restricted API with scrapers from anywhere: a warning, since /metrics shares the API port', () => {
  const apiFrom = 'networkPolicy.apiFrom[0].namespaceSelector.matchLabels.team=web';
  expect(helmNotes(withRequired(BOOTSTRAP, OWNER, apiFrom))).toContain('WARNING: networkPolicy.apiFrom restricts the API, but networkPolicy.metricsFrom admits');
  const narrowed = helmNotes(withRequired(BOOTSTRAP, OWNER, apiFrom, 'networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring'));
  expect(narrowed).not.toContain('networkPolicy.apiFrom restricts');
});
