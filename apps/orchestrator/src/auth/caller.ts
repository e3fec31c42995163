import type { Scope } from '@atelier/contracts';
import type { Actor } from '@atelier/persistence';

/** The authenticated API key behind a request. */
export interface Caller {
  readonly apiKeyId: string;
  readonly tenantId: string;
  readonly tenantName: string;
  readonly scopes: readonly Scope[];
  readonly actor: Actor;
}

export function isAdmin(caller: Caller): boolean {
  return caller.scopes.includes('admin');
}

export function hasScope(caller: Caller, scope: Scope): boolean {
  return isAdmin(caller) || caller.scopes.includes(scope);
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}
