import { createPrismaClient, type PrismaService } from '@atelier/persistence';
import { createTestDatabase, type TestDatabase } from '@atelier/testing';
import { ApiKeyStore } from './api-key.store';

// Presented keys against real Postgres: each request gets its own key's answer, also when
// a burst of requests is looked up in one statement.
describe(ApiKeyStore.name, () => {
  let db: TestDatabase;
  let prisma: PrismaService;
  let store: ApiKeyStore;

  beforeAll(async () => {
    db = await createTestDatabase('atelier_api_key_store');
    prisma = createPrismaClient({ connectionString: db.url, poolMax: 2 });
    store = new ApiKeyStore(prisma);
  });

  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  const audit = { actor: 'service:orchestrator' as const, requestId: 'test' };

  it('mints the first keys of a new tenant at once, all for one tenant', async () => {
    const minted = await Promise.all(Array.from({ length: 5 }, () => store.create({ tenant: 'initech', scopes: ['tasks:read'] }, audit)));
    expect(new Set(minted.map((key) => key.id)).size).toBe(5);
    const tenants = await prisma.tenant.findMany({ where: { name: 'initech' } });
    expect(tenants).toHaveLength(1);
    const answers = await Promise.all(minted.map((key) => store.authenticate(key.key)));
    expect(answers.map((answer) => answer.status === 'valid' && answer.caller.tenantId)).toEqual(Array(5).fill(tenants[0]?.id));
  });

  it('answers each key of a burst on its own, in one statement after the first', async () => {
    const [acme, globex, gone] = await Promise.all([
      store.create({ tenant: 'acme', scopes: ['tasks:write'] }, audit),
      store.create({ tenant: 'globex', scopes: ['tasks:read', 'audit:read'] }, audit),
      store.create({ tenant: 'acme', scopes: ['tasks:read'] }, audit),
    ]);
    expect(await store.revoke(gone.id, audit)).toBe('revoked');

    const statements = jest.spyOn(prisma.pool, 'query');
    const answers = await Promise.all([acme.key, globex.key, gone.key, 'at_never_issued_0123456789abcdef', acme.key].map((key) => store.authenticate(key)));
    // The first ran alone; the four that arrived meanwhile went together.
    expect(statements).toHaveBeenCalledTimes(2);
    statements.mockRestore();

    const caller = (key: typeof acme) => ({ status: 'valid', caller: expect.objectContaining({ apiKeyId: key.id, tenantName: key.tenant, scopes: key.scopes }) });
    expect(answers).toEqual([caller(acme), caller(globex), { status: 'revoked', apiKeyId: gone.id, tenantId: expect.any(String) }, { status: 'unknown' }, caller(acme)]);
  });
});
