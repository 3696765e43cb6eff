import { Body, Controller, HttpCode, Inject, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AdminGuard } from '../../http/admin.guard';
import { BadRequestError } from '../../http/http-errors';
import { workspaceFrom } from '../../http/workspace.param';
import { IdentityService } from '../../identity/identity.service';
import { CLOCK, type Clock } from '../../shared/clock';
import { WorkspacesService } from '../../workspaces/workspaces.service';
import { LinkSigner } from '../link-signer';
import { ACCESS_TOKEN_TTL_SECONDS, issueAccessToken, MAX_ACCESS_TOKEN_TTL_SECONDS } from './access-token';

@ApiTags('users')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('api/users')
export class AccessTokenController {
  constructor(
    @Inject(LinkSigner) private readonly signer: LinkSigner,
    private readonly identity: IdentityService,
    private readonly workspaces: WorkspacesService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Post(':userId/access-token')
  @HttpCode(201)
  @ApiQuery({ name: 'workspace', required: false })
  @ApiOperation({
    summary: "A signed per-user token for the user's browser (push subscriptions, in-app inbox); body { ttlSeconds? } (default 7 days, at most 365)",
  })
  issue(@Param('userId') id: string, @Body() body: unknown, @Query('workspace') workspace?: string) {
    const ws = workspaceFrom(this.workspaces, workspace);
    const ttl = (body as { ttlSeconds?: unknown } | undefined)?.ttlSeconds ?? ACCESS_TOKEN_TTL_SECONDS;
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_ACCESS_TOKEN_TTL_SECONDS) {
      throw new BadRequestError(`ttlSeconds must be an integer from 1 to ${MAX_ACCESS_TOKEN_TTL_SECONDS}`, 'ttlSeconds');
    }
    const { userId } = this.identity.streamsOf(ws, id);
    const { token, expiresAt } = issueAccessToken(this.signer, { workspace: ws, person: `user:${userId}`, now: this.clock.now(), ttlSeconds: ttl });
    return { workspace: ws, userId, token, expiresAt };
  }
}
