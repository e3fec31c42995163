import { createHash } from 'node:crypto';
import type { PromptRequest } from './prompt';

/**
 * The response-cache key of a request: SHA-256 over the tenant and every field that
 * shapes the answer. Per tenant, so one tenant's cached answer is never served to another
 * (a hit would tell them someone asked the same thing). The caching TTL is left out: it
 * changes the bill, not the answer.
 */
export function responseCacheKey(tenantId: string, request: PromptRequest): string {
  const canonical = JSON.stringify(['v1', tenantId, request.model, request.system, request.context ?? null, request.prompt, request.maxTokens]);
  return createHash('sha256').update(canonical).digest('hex');
}
