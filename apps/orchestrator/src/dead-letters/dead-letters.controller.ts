import { Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ListDeadLettersQuery, TaskIdParam } from '@atelier/contracts';
import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { CurrentCaller, RequireScope } from '../auth/auth.decorators';
import type { Caller } from '../auth/caller';
import { Problem } from '../http/problem';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { DeadLettersService } from './dead-letters.service';

@ApiTags('dead-letters')
@ApiBearerAuth()
@Controller('v1/dead-letters')
export class DeadLettersController {
  constructor(private readonly deadLetters: DeadLettersService) {}

  @Get()
  @RequireScope('admin')
  @ApiOperation({ summary: 'Steps that used up their attempts, newest first, with cursor pagination.' })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  list(@Query(new ZodValidationPipe(ListDeadLettersQuery, 'query')) query: z.infer<typeof ListDeadLettersQuery>) {
    return this.deadLetters.list(query);
  }

  @Post(':stepId/replay')
  @HttpCode(202)
  @RequireScope('admin')
  @ApiOperation({ summary: 'Re-queue a dead-lettered step with a fresh attempt; a task it had failed runs again.' })
  @ApiResponse({ status: 202, description: '{stepId, taskId, status: "queued", taskStatus}' })
  replay(@Param('stepId') stepId: string, @CurrentCaller() caller: Caller, @Req() request: FastifyRequest) {
    if (!TaskIdParam.safeParse(stepId).success) throw Problem.notFound(`No step ${stepId}.`);
    return this.deadLetters.replay(caller, stepId, { requestId: request.id, trace: request.trace });
  }
}
