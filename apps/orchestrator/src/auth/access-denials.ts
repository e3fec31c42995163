import { Inject, Injectable } from '@nestjs/common';
import type { Scope } from '@atelier/contracts';
import { LOGGER, type Logger } from '@atelier/observability';
import { type AuditEventInput, appendAudit, PrismaService } from '@atelier/persistence';
import type { FastifyRequest } from 'fastify';
import { recognisablePrefix } from './api-key-secret';
import type { KeyLookup } from './api-key.store';
import type { Caller } from './caller';
import { DenialSampler } from './denial-sampler';

/** A task or audit event a caller asked for that belongs to another tenant (answered 404). */
export interface ProbedResource {
  resource: string;
  ownerTenantId: string | null;
}

/**
 * Records refused requests as `access.denied` (docs/audit.md): 401 for a presented key that
 * is unknown or revoked, 403 for a missing scope, 404 for another tenant's task or event
 * (a probe). Sampled (DenialSampler), so a flood of refusals is a trickle of writes; a
 * failed write is logged and never changes the answer the caller gets.
 */
@Injectable()
export class AccessDenials {
  private readonly sampler = new DenialSampler();

  constructor(
    private readonly prisma: PrismaService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async unauthenticated(request: FastifyRequest, presentedKey: string, lookup: Exclude<KeyLookup, { status: 'valid' }>): Promise<void> {
    if (lookup.status === 'revoked') {
      await this.record(`401:apikey:${lookup.apiKeyId}`, request, {
        actor: `apikey:${lookup.apiKeyId}`,
        tenantId: lookup.tenantId,
        data: { status: 401, reason: 'revoked key', clientIp: request.ip },
      });
      return;
    }
    // Only a key of our format shows its prefix (the part listings show); anything else
    // could be a secret in full, so nothing of it is kept.
    const keyPrefix = recognisablePrefix(presentedKey);
    await this.record(`401:${keyPrefix ?? `ip:${request.ip}`}`, request, {
      actor: 'anonymous',
      tenantId: null,
      data: { status: 401, reason: 'unknown key', keyPrefix: keyPrefix ?? null, clientIp: request.ip },
    });
  }

  async forbidden(caller: Caller, scope: Scope, request: FastifyRequest): Promise<void> {
    await this.record(`403:${caller.apiKeyId}:${route(request)}`, request, {
      actor: caller.actor,
      tenantId: caller.tenantId,
      data: { status: 403, requiredScope: scope },
    });
  }

  /**
   * Platform-level (no tenant: admins only). Were it the caller's tenant's event, a prober
   * with audit:read would learn from its own trail that the id exists, which the 404 hides.
   */
  async probe(caller: Caller, request: FastifyRequest, probed: ProbedResource): Promise<void> {
    await this.record(`404:${caller.apiKeyId}`, request, {
      actor: caller.actor,
      tenantId: null,
      data: { status: 404, reason: "another tenant's resource", resource: probed.resource, callerTenantId: caller.tenantId, ownerTenantId: probed.ownerTenantId },
    });
  }

  private async record(source: string, request: FastifyRequest, event: Pick<AuditEventInput, 'actor' | 'tenantId' | 'data'>): Promise<void> {
    const admission = this.sampler.admit(source);
    if (!admission.record) return;
    try {
      await appendAudit(this.prisma, {
        ...event,
        action: 'access.denied',
        subject: `route:${route(request)}`,
        requestId: request.id,
        traceId: request.trace?.traceId ?? null,
        data: { ...event.data, suppressed: admission.suppressed },
      });
    } catch (error) {
      this.logger.warn({ err: error, requestId: request.id }, 'could not record an access denial');
    }
  }
}

function route(request: FastifyRequest): string {
  return `${request.method} ${request.routeOptions?.url ?? request.url.split('?')[0]}`;
}
