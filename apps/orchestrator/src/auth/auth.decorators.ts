import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import type { Scope } from '@atelier/contracts';
import type { FastifyRequest } from 'fastify';
import type { Caller } from './caller';

export const REQUIRED_SCOPE = 'atelier:required-scope';

/** The scope a route needs; every route needs one unless marked @PublicRoute() (health, metrics). */
export const RequireScope = (scope: Scope) => SetMetadata(REQUIRED_SCOPE, scope);

export const CurrentCaller = createParamDecorator((_: unknown, context: ExecutionContext): Caller => {
  const caller = context.switchToHttp().getRequest<FastifyRequest>().caller;
  if (!caller) throw new Error('CurrentCaller used on a route without authentication');
  return caller;
});
