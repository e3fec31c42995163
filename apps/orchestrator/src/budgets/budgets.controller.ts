import { Body, Controller, Get, HttpCode, Put, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ListBudgetsQuery, PutBudgetRequest } from '@atelier/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { CurrentCaller, RequireScope } from '../auth/auth.decorators';
import type { Caller } from '../auth/caller';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { BudgetsService } from './budgets.service';

@ApiTags('budgets')
@ApiBearerAuth()
@Controller('v1/budgets')
export class BudgetsController {
  constructor(private readonly budgets: BudgetsService) {}

  @Get()
  @RequireScope('tasks:read')
  @ApiOperation({ summary: "Spend caps with the current UTC window's spend. Admins see all (filter by tenant); a tenant sees its own and its tasks'." })
  @ApiQuery({ name: 'scope', required: false, enum: ['global', 'tenant', 'task'] })
  @ApiQuery({ name: 'tenant', required: false })
  @ApiQuery({ name: 'taskId', required: false })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  list(@Query(new ZodValidationPipe(ListBudgetsQuery, 'query')) query: z.infer<typeof ListBudgetsQuery>, @CurrentCaller() caller: Caller) {
    return this.budgets.list(caller, query);
  }

  @Put()
  @HttpCode(200)
  @RequireScope('admin')
  @ApiOperation({ summary: 'Create (201) or replace (200) the budget of one scope and period; audited as budget.updated.' })
  @ApiBody({ schema: z.toJSONSchema(PutBudgetRequest, { io: 'input' }) as object })
  @ApiResponse({ status: 200, description: 'The budget' })
  async put(
    @Body(new ZodValidationPipe(PutBudgetRequest)) body: z.infer<typeof PutBudgetRequest>,
    @CurrentCaller() caller: Caller,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { budget, created } = await this.budgets.put(caller, body, { requestId: request.id, traceId: request.trace.traceId });
    if (created) void reply.status(201);
    return budget;
  }
}
