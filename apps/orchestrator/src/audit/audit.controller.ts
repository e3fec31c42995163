import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AuditSeqParam, ExportAuditQuery, ListAuditQuery, parseHeadAnchor, VerifyAuditQuery } from '@atelier/contracts';
import { PrismaService } from '@atelier/persistence';
import type { FastifyReply } from 'fastify';
import type { z } from 'zod';
import { CurrentCaller, RequireScope } from '../auth/auth.decorators';
import { type Caller, isAdmin } from '../auth/caller';
import { Problem } from '../http/problem';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { AuditExportService } from './audit-export.service';
import { AuditQueriesService } from './audit-queries.service';
import { TENANT_VERIFY_MAX_POSITIONS, verifyStoredChain, VerifyRangeTooLargeError } from './audit-verification';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('v1/audit')
export class AuditController {
  constructor(
    private readonly queries: AuditQueriesService,
    private readonly exports: AuditExportService,
    private readonly prisma: PrismaService,
  ) {}

  @Get()
  @RequireScope('audit:read')
  @ApiOperation({ summary: 'Audit events, newest first, filtered and cursor-paginated. A tenant sees its own events; admin sees all.' })
  @ApiQuery({ name: 'task', required: false, description: 'task id' })
  @ApiQuery({ name: 'action', required: false, description: 'one action of the catalog (docs/audit.md)' })
  @ApiQuery({ name: 'actor', required: false, description: 'apikey:<id> or service:<name>' })
  @ApiQuery({ name: 'from', required: false, description: 'ISO-8601, inclusive' })
  @ApiQuery({ name: 'to', required: false, description: 'ISO-8601, exclusive' })
  @ApiQuery({ name: 'limit', required: false, description: '1-500, default 50' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  list(@Query(new ZodValidationPipe(ListAuditQuery, 'query')) query: z.infer<typeof ListAuditQuery>, @CurrentCaller() caller: Caller) {
    return this.queries.list(caller, query);
  }

  @Get('head')
  @RequireScope('audit:read')
  @ApiOperation({ summary: 'The last sealed position and its hash: keep it outside the system to detect later truncation or rewriting.' })
  async head() {
    const head = await this.queries.head();
    return { ...head, anchor: `${head.position}:${head.hash}` };
  }

  @Get('verify')
  @RequireScope('audit:read')
  @ApiOperation({
    summary:
      'Re-computes the stored chain over positions from..to: {ok, checked, firstBadPosition, reason, from, to}. ' +
      `A tenant key checks at most ${TENANT_VERIFY_MAX_POSITIONS} positions per request (by default the last ones); admin keys any range.`,
  })
  @ApiQuery({ name: 'from', required: false, description: `first position; default 1 (admin) or the head minus ${TENANT_VERIFY_MAX_POSITIONS - 1} (tenant)` })
  @ApiQuery({ name: 'to', required: false, description: 'last position, default the current head' })
  @ApiQuery({ name: 'head', required: false, description: 'a head taken earlier (HASH or POSITION:HASH): catches a cut tail' })
  async verify(
    @Query(new ZodValidationPipe(VerifyAuditQuery, 'query')) query: z.infer<typeof VerifyAuditQuery>,
    @CurrentCaller() caller: Caller,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    // The chain's integrity is one fact for everyone; the answer names positions only.
    const head = query.head === undefined ? undefined : parseHeadAnchor(query.head);
    const clientGone = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableEnded) clientGone.abort();
    };
    reply.raw.once('close', onClose);
    try {
      return await verifyStoredChain(this.prisma, {
        from: query.from,
        to: query.to,
        head,
        signal: clientGone.signal,
        ...(isAdmin(caller) ? {} : { maxPositions: TENANT_VERIFY_MAX_POSITIONS }),
      });
    } catch (error) {
      if (error instanceof VerifyRangeTooLargeError) {
        throw Problem.validation([{ field: query.to === undefined ? 'from' : 'to', message: `a tenant key ${error.message}` }]);
      }
      if (clientGone.signal.aborted) throw new Problem(499, 'Client closed request', 'The client went away; the verification was stopped.');
      throw error;
    } finally {
      reply.raw.off('close', onClose);
    }
  }

  @Get('export')
  @RequireScope('audit:read')
  @ApiOperation({ summary: 'Streams the sealed chain over positions from..to as NDJSON (verifiable offline) or CSV.' })
  @ApiProduces('application/x-ndjson', 'text/csv')
  @ApiQuery({ name: 'format', required: false, enum: ['ndjson', 'csv'] })
  @ApiQuery({ name: 'from', required: false, description: 'first position, default 1' })
  @ApiQuery({ name: 'to', required: false, description: 'last position, default the head when the export starts' })
  async export(
    @Query(new ZodValidationPipe(ExportAuditQuery, 'query')) query: z.infer<typeof ExportAuditQuery>,
    @CurrentCaller() caller: Caller,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const file = await this.exports.open(caller, query);
    await reply
      .header('content-type', file.contentType)
      .header('content-disposition', `attachment; filename="${file.fileName}"`)
      .header('x-audit-range', `${file.from}-${file.to}`)
      .send(file.body);
  }

  @Get(':seq')
  @RequireScope('audit:read')
  @ApiOperation({ summary: 'One audit event by its seq.' })
  get(@Param('seq') seq: string, @CurrentCaller() caller: Caller) {
    const parsed = AuditSeqParam.safeParse(seq);
    if (!parsed.success) throw Problem.notFound(`No audit event ${seq}.`);
    return this.queries.get(caller, parsed.data);
  }
}
