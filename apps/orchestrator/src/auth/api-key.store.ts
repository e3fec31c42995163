import { Injectable } from '@nestjs/common';
import { SCOPES, type Scope } from '@atelier/contracts';
import { appendAudit, namedStatement, PrismaService } from '@atelier/persistence';
import type { FastifyRequest } from 'fastify';
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

const AUTHENTICATE = namedStatement(
  'apikey.authenticate',
  'SELECT k.id, k.tenant_id, t.name, k.scopes FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL',
);

@Injectable()
export class ApiKeyStore {
  constructor(private readonly prisma: PrismaService) {}

  /** Runs on every request, so it is one plain statement on the pool (a Prisma model query costs several times the CPU). */
  async authenticate(key: string): Promise<Caller | undefined> {
    const { rows } = await this.prisma.pool.query<{ id: string; tenant_id: string; name: string; scopes: string[] }>({ ...AUTHENTICATE, values: [hashApiKey(key)] });
    const row = rows[0];
    if (!row) return undefined;
    return {
      apiKeyId: row.id,
      tenantId: row.tenant_id,
      tenantName: row.name,
      scopes: row.scopes.filter((scope): scope is Scope => (SCOPES as readonly string[]).includes(scope)),
      actor: `apikey:${row.id}`,
    };
  }

  /** Mints a key for a tenant (created on first use); the key is returned once, only its hash is kept. */
  async create(
    input: { tenant: string; scopes: Scope[]; name?: string },
    audit: { actor: Caller['actor']; requestId: string; traceId?: string },
    key: string = generateApiKey(),
  ): Promise<CreatedApiKey> {
    return this.prisma.$transaction(async (tx) => {
      const tenant = await tx.tenant.upsert({ where: { name: input.tenant }, create: { name: input.tenant }, update: {} });
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

  async recordAccessDenied(caller: Caller, scope: Scope, request: FastifyRequest): Promise<void> {
    await appendAudit(this.prisma, {
      action: 'access.denied',
      actor: caller.actor,
      subject: `route:${request.method} ${request.routeOptions?.url ?? request.url}`,
      tenantId: caller.tenantId,
      requestId: request.id,
      data: { requiredScope: scope },
    });
  }
}
