import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { UsageQuery } from '@atelier/contracts';
import type { z } from 'zod';
import { CurrentCaller, RequireScope } from '../auth/auth.decorators';
import type { Caller } from '../auth/caller';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { UsageService } from './usage.service';

@ApiTags('budgets')
@ApiBearerAuth()
@Controller('v1/usage')
export class UsageController {
  constructor(private readonly usage: UsageService) {}

  @Get()
  @RequireScope('tasks:read')
  @ApiOperation({ summary: "Spend and tokens from the ledger, grouped by model, UTC day, task or tenant. A tenant sees its own; admins all or one tenant's." })
  @ApiQuery({ name: 'groupBy', required: false, enum: ['model', 'day', 'task', 'tenant'] })
  @ApiQuery({ name: 'from', required: false })
  @ApiQuery({ name: 'to', required: false })
  @ApiQuery({ name: 'tenant', required: false })
  @ApiQuery({ name: 'limit', required: false })
  report(@Query(new ZodValidationPipe(UsageQuery, 'query')) query: z.infer<typeof UsageQuery>, @CurrentCaller() caller: Caller) {
    return this.usage.report(caller, query);
  }
}
