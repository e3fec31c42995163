import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { TaskAuditQuery, TaskIdParam } from '@atelier/contracts';
import type { z } from 'zod';
import { CurrentCaller, RequireScope } from '../auth/auth.decorators';
import type { Caller } from '../auth/caller';
import { Problem } from '../http/problem';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { AuditQueriesService } from './audit-queries.service';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('v1/tasks')
export class TaskAuditController {
  constructor(private readonly queries: AuditQueriesService) {}

  @Get(':id/audit')
  @RequireScope('audit:read')
  @ApiOperation({ summary: "A task's audit timeline, oldest first (causal order), cursor-paginated." })
  @ApiQuery({ name: 'limit', required: false, description: '1-1000, default 200' })
  @ApiQuery({ name: 'cursor', required: false })
  timeline(@Param('id') id: string, @Query(new ZodValidationPipe(TaskAuditQuery, 'query')) query: z.infer<typeof TaskAuditQuery>, @CurrentCaller() caller: Caller) {
    if (!TaskIdParam.safeParse(id).success) throw Problem.notFound(`No task ${id}.`);
    return this.queries.taskTimeline(caller, id, query);
  }
}
