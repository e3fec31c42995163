import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CreateApiKeyRequest } from '@atelier/contracts';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { CurrentCaller, RequireScope } from '../auth/auth.decorators';
import { ApiKeyStore } from '../auth/api-key.store';
import type { Caller } from '../auth/caller';
import { ZodValidationPipe } from '../http/zod-validation.pipe';

@ApiTags('api-keys')
@ApiBearerAuth()
@Controller('v1/api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeyStore) {}

  @Post()
  @HttpCode(201)
  @RequireScope('admin')
  @ApiOperation({ summary: 'Mint an API key for a tenant (created on first use). The key is shown only in this response.' })
  @ApiBody({ schema: z.toJSONSchema(CreateApiKeyRequest, { io: 'input' }) as object })
  @ApiResponse({ status: 201, description: '{id, key, tenant, scopes, name, createdAt}' })
  async create(
    @Body(new ZodValidationPipe(CreateApiKeyRequest)) body: z.infer<typeof CreateApiKeyRequest>,
    @CurrentCaller() caller: Caller,
    @Req() request: FastifyRequest,
  ) {
    const created = await this.keys.create(body, { actor: caller.actor, requestId: request.id, traceId: request.trace.traceId });
    return { ...created, createdAt: created.createdAt.toISOString() };
  }
}
