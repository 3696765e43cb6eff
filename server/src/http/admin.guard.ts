import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { WorkspacesService } from '../workspaces/workspaces.service';
import { UnauthorizedError } from './http-errors';

/** The admin/API surface under /api needs `Authorization: Bearer <ADMIN_TOKEN>`. */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(private readonly workspaces: WorkspacesService) {}

  canActivate(context: ExecutionContext): boolean {
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization;
    const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
    if (!match) throw new UnauthorizedError('Authorization: Bearer <admin token> is required');
    if (!this.workspaces.isAdminToken(match[1].trim())) throw new UnauthorizedError('The admin token is not valid');
    return true;
  }
}
