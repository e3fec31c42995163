import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Scope } from '@atelier/contracts';
import type { FastifyRequest } from 'fastify';
import { Problem } from '../http/problem';
import { PUBLIC_ROUTE } from '@atelier/observability';
import { AccessDenials } from './access-denials';
import { REQUIRED_SCOPE } from './auth.decorators';
import { ApiKeyStore } from './api-key.store';
import { hasScope } from './caller';

/** Global guard: Bearer API key → caller, then the route's scope. Fails closed. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeyStore,
    private readonly denials: AccessDenials,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const scope = this.reflector.getAllAndOverride<Scope | undefined>(REQUIRED_SCOPE, targets);
    if (!scope) throw Problem.forbidden('This route has no access rule.');

    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
    if (!match) throw Problem.unauthorized('An API key is required: send "Authorization: Bearer <key>".');
    const presented = match[1] as string;
    const lookup = await this.keys.authenticate(presented);
    if (lookup.status !== 'valid') {
      await this.denials.unauthenticated(request, presented, lookup);
      throw Problem.unauthorized('The API key is not valid or has been revoked.');
    }
    const { caller } = lookup;
    request.caller = caller;
    if (!hasScope(caller, scope)) {
      await this.denials.forbidden(caller, scope, request);
      throw Problem.forbidden(`This API key lacks the "${scope}" scope.`);
    }
    return true;
  }
}
