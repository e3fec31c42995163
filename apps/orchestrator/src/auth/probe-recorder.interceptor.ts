import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import { AuditSeqParam, TaskIdParam } from '@atelier/contracts';
import { LOGGER, type Logger } from '@atelier/observability';
import { namedStatement, PrismaService } from '@atelier/persistence';
import type { FastifyRequest } from 'fastify';
import { catchError, from, mergeMap, type Observable, throwError } from 'rxjs';
import { Problem } from '../http/problem';
import { AccessDenials, type ProbedResource } from './access-denials';
import { isAdmin } from './caller';

const TASK_OWNER = namedStatement('probe.task-owner', 'SELECT tenant_id::text AS tenant_id FROM tasks WHERE id = $1::uuid');
const EVENT_OWNER = namedStatement('probe.event-owner', 'SELECT tenant_id::text AS tenant_id FROM audit_events WHERE seq = $1');

/**
 * A tenant asking for another tenant's task or audit event gets the same 404 as for one
 * that does not exist; this records that refusal (`access.denied`, status 404) when the
 * resource does exist elsewhere, so probing for ids is on the record. Only 404s of a
 * tenant key on id routes cost the one extra look-up.
 */
@Injectable()
export class ProbeRecorder implements NestInterceptor {
  constructor(
    private readonly prisma: PrismaService,
    private readonly denials: AccessDenials,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(catchError((error: unknown) => from(this.inspect(context, error)).pipe(mergeMap(() => throwError(() => error)))));
  }

  private async inspect(context: ExecutionContext, error: unknown): Promise<void> {
    if (!(error instanceof Problem) || error.statusCode !== 404) return;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const { caller } = request;
    if (!caller || isAdmin(caller)) return;
    try {
      const probed = await this.owner(request);
      if (probed && probed.ownerTenantId !== caller.tenantId) await this.denials.probe(caller, request, probed);
    } catch (lookupError) {
      this.logger.warn({ err: lookupError, requestId: request.id }, 'could not check a 404 for probing');
    }
  }

  private async owner(request: FastifyRequest): Promise<ProbedResource | undefined> {
    const route = request.routeOptions?.url ?? '';
    const params = (request.params ?? {}) as Record<string, string | undefined>;
    if (route.startsWith('/v1/tasks/:id')) {
      const id = TaskIdParam.safeParse(params['id']);
      if (!id.success) return undefined;
      const { rows } = await this.prisma.pool.query<{ tenant_id: string }>({ ...TASK_OWNER, values: [id.data] });
      return rows[0] ? { resource: `task:${id.data}`, ownerTenantId: rows[0].tenant_id } : undefined;
    }
    if (route === '/v1/audit/:seq') {
      const seq = AuditSeqParam.safeParse(params['seq']);
      if (!seq.success) return undefined;
      const { rows } = await this.prisma.pool.query<{ tenant_id: string | null }>({ ...EVENT_OWNER, values: [seq.data] });
      return rows[0] ? { resource: `audit:${seq.data}`, ownerTenantId: rows[0].tenant_id } : undefined;
    }
    return undefined;
  }
}
