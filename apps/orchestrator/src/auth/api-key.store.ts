import { Injectable } from '@nestjs/common';
import { SCOPES, type Scope } from '@atelier/contracts';
import { appendAudit, arrayRows, CallGrouper, groupOrEachAlone, namedStatement, PrismaService } from '@atelier/persistence';
import { displayPrefix, generateApiKey, hashApiKey } from './api-key-secret';
import type { Caller } from './caller';

export interface CreatedApiKey {
  id: string;
  key: string;
  tenant: string;
  scopes: Scope[];
  name: string | null;
  createdAt: Date;
}

/** The keys whose hashes are in $1. Revoked keys are found too, so their use is recorded against them (access.denied, 401). */
const AUTHENTICATE = namedStatement(
  'apikey.authenticate.v2',
  `WITH req AS MATERIALIZED (${arrayRows(['$1::text[]'], ['key_hash'])})
   SELECT k.key_hash, k.id, k.tenant_id, t.name, k.scopes, k.revoked_at IS NOT NULL AS revoked
     FROM req r JOIN api_keys k ON k.key_hash = r.key_hash JOIN tenants t ON t.id = k.tenant_id`,
);

interface KeyRow {
  key_hash: string;
  id: string;
  tenant_id: string;
  name: string;
  scopes: string[];
  revoked: boolean;
}

/** What a presented key is: a caller, a revoked key (whose use is refused), or nothing we issued. */
export type KeyLookup = { status: 'valid'; caller: Caller } | { status: 'revoked'; apiKeyId: string; tenantId: string } | { status: 'unknown' };

export type Revocation = 'revoked' | 'already-revoked' | 'unknown';

@Injectable()
export class ApiKeyStore {
  /** Keys presented while a lookup runs are looked up together in the next statement: one round trip for a burst of requests. */
  private readonly lookups = new CallGrouper<string, KeyRow | undefined>((hashes) => groupOrEachAlone(hashes, (group) => this.lookupStatement(group)));

  constructor(private readonly prisma: PrismaService) {}

  /**
   * Runs on every request, so it is one plain statement on the pool (a Prisma model query
   * costs several times the CPU), shared by the requests that arrive together. Nothing is
   * cached: a revocation holds from the next request.
   */
  async authenticate(key: string): Promise<KeyLookup> {
    const row = await this.lookups.submit(hashApiKey(key));
    if (!row) return { status: 'unknown' };
    if (row.revoked) return { status: 'revoked', apiKeyId: row.id, tenantId: row.tenant_id };
    return {
      status: 'valid',
      caller: {
        apiKeyId: row.id,
        tenantId: row.tenant_id,
        tenantName: row.name,
        scopes: row.scopes.filter((scope): scope is Scope => (SCOPES as readonly string[]).includes(scope)),
        actor: `apikey:${row.id}`,
      },
    };
  }

  private async lookupStatement(hashes: string[]): Promise<(KeyRow | undefined)[]> {
    const { rows } = await this.prisma.pool.query<KeyRow>({ ...AUTHENTICATE, values: [[...new Set(hashes)]] });
    const byHash = new Map(rows.map((row) => [row.key_hash, row]));
    return hashes.map((hash) => byHash.get(hash));
  }

  /** Mints a key for a tenant (created on first use); the key is returned once, only its hash is kept. */
  async create(
    input: { tenant: string; scopes: Scope[]; name?: string },
    audit: { actor: Caller['actor']; requestId: string; traceId?: string },
    key: string = generateApiKey(),
  ): Promise<CreatedApiKey> {
    return this.prisma.$transaction(async (tx) => {
      // Two first keys of one tenant at once: ON CONFLICT waits for the other insert and
      // leaves its row (Prisma's upsert reads, then inserts, and one of the two failed).
      await tx.$executeRaw`INSERT INTO tenants (name) VALUES (${input.tenant}) ON CONFLICT (name) DO NOTHING`;
      const tenant = await tx.tenant.findUniqueOrThrow({ where: { name: input.tenant } });
      const row = await tx.apiKey.create({
        data: { tenantId: tenant.id, name: input.name ?? null, prefix: displayPrefix(key), keyHash: hashApiKey(key), scopes: input.scopes },
      });
      await appendAudit(tx, {
        action: 'apikey.created',
        actor: audit.actor,
        subject: `apikey:${row.id}`,
        tenantId: tenant.id,
        requestId: audit.requestId,
        traceId: audit.traceId ?? null,
        data: { prefix: row.prefix, scopes: input.scopes, name: input.name ?? null },
      });
      return { id: row.id, key, tenant: tenant.name, scopes: input.scopes, name: row.name, createdAt: row.createdAt };
    });
  }

  /** The bootstrap admin key from the environment exists (idempotent across restarts and replicas). */
  async ensureBootstrapKey(key: string): Promise<void> {
    const existing = await this.prisma.apiKey.findUnique({ where: { keyHash: hashApiKey(key) } });
    if (existing) return;
    try {
      await this.create({ tenant: 'admin', scopes: ['admin'], name: 'bootstrap' }, { actor: 'service:orchestrator', requestId: 'bootstrap' }, key);
    } catch (error) {
      // Another replica minted it at the same moment: the unique hash makes that safe.
      if ((error as { code?: string }).code !== 'P2002') throw error;
    }
  }

  /**
   * Sets revoked_at and appends `apikey.revoked`, in one transaction. Revoking a revoked key
   * changes nothing (the first revocation's event stands): the call is safe to retry.
   */
  async revoke(id: string, audit: { actor: Caller['actor']; requestId: string; traceId?: string }): Promise<Revocation> {
    return this.prisma.$transaction(async (tx) => {
      const [revoked] = await tx.$queryRaw<{ tenant_id: string; prefix: string; name: string | null; scopes: string[] }[]>`
        UPDATE api_keys SET revoked_at = now() WHERE id = ${id}::uuid AND revoked_at IS NULL RETURNING tenant_id::text, prefix, name, scopes`;
      if (!revoked) {
        const [existing] = await tx.$queryRaw<{ id: string }[]>`SELECT id::text FROM api_keys WHERE id = ${id}::uuid`;
        return existing ? 'already-revoked' : 'unknown';
      }
      await appendAudit(tx, {
        action: 'apikey.revoked',
        actor: audit.actor,
        subject: `apikey:${id}`,
        tenantId: revoked.tenant_id,
        requestId: audit.requestId,
        traceId: audit.traceId ?? null,
        data: { prefix: revoked.prefix, name: revoked.name, scopes: revoked.scopes },
      });
      return 'revoked';
    });
  }
}
