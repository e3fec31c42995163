import { Body, Controller, Delete, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiKeyIdParam, CreateApiKeyRequest } from '@atelier/contracts';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { CurrentCaller, RequireScope } from '../auth/auth.decorators';
import { ApiKeyStore } from '../auth/api-key.store';
import type { Caller } from '../auth/caller';
import { Problem } from '../http/problem';
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

  @Delete(':id')
  @HttpCode(204)
  @RequireScope('admin')
  @ApiOperation({
    summary:
      'Revoke an API key: from the next request on it answers 401 (keys are not cached). Audited apikey.revoked. ' +
      'Revoking a revoked key is a 204 that changes nothing; an unknown id is 404.',
  })
  @ApiParam({ name: 'id', description: 'the key id (the id POST /v1/api-keys answered)' })
  @ApiResponse({ status: 204, description: 'revoked (or already revoked)' })
  @ApiResponse({ status: 400, description: 'the id is not a UUID' })
  @ApiResponse({ status: 404, description: 'no key with this id' })
  async revoke(@Param('id') id: string, @CurrentCaller() caller: Caller, @Req() request: FastifyRequest): Promise<void> {
    const parsed = ApiKeyIdParam.safeParse(id);
    if (!parsed.success) throw Problem.validation([{ field: 'id', message: parsed.error.issues[0]?.message ?? 'is invalid' }]);
    const outcome = await this.keys.revoke(id, { actor: caller.actor, requestId: request.id, traceId: request.trace.traceId });
    if (outcome === 'unknown') throw Problem.notFound(`No API key ${id}.`);
  }
}
