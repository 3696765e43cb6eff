/**
 * What browsers call: the VAPID public key (for `pushManager.subscribe`) and the subscription itself,
 * authenticated with the person's access token. Browsers call from the app's origin, so these routes
 * answer CORS themselves (any origin: the bearer token, not a cookie, is the credential).
 */
import { Body, Controller, Delete, Get, Headers, HttpCode, Inject, Options, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { BadRequestError, UnauthorizedError } from '../../http/http-errors';
import { CLOCK, type Clock } from '../../shared/clock';
import { WorkspacesService } from '../../workspaces/workspaces.service';
import { LinkSigner } from '../link-signer';
import { type AccessGrant, grantFromBearer } from './access-token';
import { InvalidPushSubscriptionError, parseEndpoint, parsePushSubscription } from './push-subscription';
import { PushSubscriptions } from './push-subscriptions.service';
import { VAPID_KEYS, type VapidKeys } from './vapid-keys';

function allowCors(reply: FastifyReply): void {
  void reply.header('access-control-allow-origin', '*');
}

@ApiTags('push')
@Controller('v1/push')
export class PushController {
  constructor(
    private readonly subscriptions: PushSubscriptions,
    @Inject(VAPID_KEYS) private readonly vapid: VapidKeys,
    @Inject(LinkSigner) private readonly signer: LinkSigner,
    private readonly workspaces: WorkspacesService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Get('vapid-public-key')
  @ApiOperation({ summary: "The VAPID public key: the browser's applicationServerKey" })
  publicKey(@Res({ passthrough: true }) reply: FastifyReply) {
    allowCors(reply);
    return { publicKey: this.vapid.publicKey };
  }

  @Options('subscriptions')
  @HttpCode(204)
  preflight(@Res({ passthrough: true }) reply: FastifyReply): void {
    allowCors(reply);
    void reply
      .header('access-control-allow-methods', 'POST, DELETE, OPTIONS')
      .header('access-control-allow-headers', 'authorization, content-type')
      .header('access-control-max-age', '86400');
  }

  @Post('subscriptions')
  @ApiBearerAuth()
  @ApiOperation({ summary: "Stores the browser's PushSubscription { endpoint, keys: { p256dh, auth } } for the token's user (201 new, 200 already stored)" })
  async subscribe(@Body() body: unknown, @Headers('authorization') authorization: string | undefined, @Res({ passthrough: true }) reply: FastifyReply) {
    allowCors(reply);
    const grant = this.grant(authorization);
    const subscription = validated(() => parsePushSubscription(body));
    const { recorded } = await this.subscriptions.subscribe(grant.workspace, grant.person, subscription);
    void reply.status(recorded ? 201 : 200);
    return { endpoint: subscription.endpoint, subscribed: true };
  }

  @Delete('subscriptions')
  @HttpCode(200)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Removes a subscription of the token\'s user: body { endpoint } (or ?endpoint=)' })
  async unsubscribe(
    @Body() body: unknown,
    @Query('endpoint') endpointParam: string | undefined,
    @Headers('authorization') authorization: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    allowCors(reply);
    const grant = this.grant(authorization);
    const endpoint = validated(() => parseEndpoint((body as { endpoint?: unknown } | undefined)?.endpoint ?? endpointParam));
    const { recorded } = await this.subscriptions.unsubscribe(grant.workspace, grant.person, endpoint);
    return { endpoint, removed: recorded };
  }

  private grant(authorization: string | undefined): AccessGrant {
    const grant = grantFromBearer(this.signer, authorization, this.clock.now());
    if (!this.workspaces.exists(grant.workspace)) throw new UnauthorizedError('The access token names a workspace that no longer exists');
    return grant;
  }
}

function validated<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof InvalidPushSubscriptionError) throw new BadRequestError(error.message, error.path || undefined);
    throw error;
  }
}
