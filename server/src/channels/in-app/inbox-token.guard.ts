/**
 * The inbox API is called from the end user's browser or app with their per-user access token
 * (`POST /api/users/:userId/access-token`, see ../push/access-token.ts):
 * `Authorization: Bearer <token>`, or `?token=<token>` for EventSource, which cannot set headers.
 * The CORS header is set here, before any check, so a browser can also read a 401.
 */
import { type CanActivate, createParamDecorator, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { UnauthorizedError } from '../../http/http-errors';
import { CLOCK, type Clock } from '../../shared/clock';
import { LinkSigner } from '../link-signer';
import { verifyAccessToken } from '../push/access-token';
import type { InboxPrincipal } from './inbox.service';

type InboxRequest = FastifyRequest & { inboxPrincipal?: InboxPrincipal };

@Injectable()
export class InboxTokenGuard implements CanActivate {
  constructor(
    private readonly signer: LinkSigner,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<InboxRequest>();
    void context.switchToHttp().getResponse<FastifyReply>().header('access-control-allow-origin', '*');
    const token = tokenOf(request);
    if (!token) throw new UnauthorizedError('An inbox token is required: Authorization: Bearer <token>, or ?token=<token> for EventSource');
    const principal = verifyAccessToken(this.signer, token, this.clock.now());
    if (!principal) throw new UnauthorizedError('The inbox token is not valid or has expired');
    request.inboxPrincipal = principal;
    return true;
  }
}

function tokenOf(request: FastifyRequest): string | undefined {
  const header = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '');
  if (header) return header[1].trim();
  const query = (request.query as Record<string, unknown> | undefined)?.token;
  return typeof query === 'string' && query !== '' ? query : undefined;
}

/** The inbox the request's token opens (set by `InboxTokenGuard`). */
export const Inbox = createParamDecorator((_data: unknown, context: ExecutionContext): InboxPrincipal => {
  const principal = context.switchToHttp().getRequest<InboxRequest>().inboxPrincipal;
  if (!principal) throw new Error('InboxTokenGuard did not run for this route');
  return principal;
});
