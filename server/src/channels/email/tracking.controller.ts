/**
 * Open pixel and click redirect for emails. No authentication: the signed token is the credential,
 * and it names the workspace, person, message and (for clicks) the only URL it may redirect to, so
 * this is never an open redirect. A failure to record never breaks the reader's experience: the
 * pixel is always served and a valid click always redirects.
 */
import { Controller, Get, Headers, Inject, Logger, Param, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { personStream } from '@herald/projections';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { EVENT_STORE, type EventStore, type NewEvent } from '../../event-store/event-store.port';
import { CLOCK, type Clock } from '../../shared/clock';
import { LinkSigner } from '../link-signer';
import { invalidLinkPage, PAGE_HEADERS } from '../subscriptions/html';
import { asciiUrl } from './tracked-html';
import { clickedEvent, clickLink, openedEvent, openLink, TRANSPARENT_GIF } from './tracking.events';

@ApiTags('tracking links')
@Controller('t')
export class TrackingController {
  private readonly logger = new Logger('tracking');

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(LinkSigner) private readonly links: LinkSigner,
  ) {}

  @Get('o/:file')
  @ApiOperation({ summary: 'Open pixel (`/t/o/<token>.gif`): a 1x1 GIF; records MessageOpened when the token is valid' })
  async open(
    @Param('file') file: string,
    @Headers('user-agent') userAgent: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const now = this.clock.now();
    const link = openLink(this.links.verify(file.replace(/\.gif$/i, ''), seconds(now)));
    if (link && request.method === 'GET') await this.record(link.w, link.p, openedEvent(link, userAgent, now));
    void reply
      .status(200)
      .headers({ 'content-type': 'image/gif', 'cache-control': 'no-store, no-cache, must-revalidate, private', pragma: 'no-cache', expires: '0' })
      .send(TRANSPARENT_GIF);
  }

  @Get('c/:token')
  @ApiOperation({ summary: 'Click redirect: 302 to the URL signed into the token, recording MessageClicked; 400 for a forged or altered token' })
  async click(
    @Param('token') token: string,
    @Headers('user-agent') userAgent: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const now = this.clock.now();
    const link = clickLink(this.links.verify(token, seconds(now)));
    if (!link) {
      void reply.status(400).headers(PAGE_HEADERS).send(invalidLinkPage());
      return;
    }
    // A header carries ASCII only: the target's ASCII form (links signed before tracked-html.js
    // encoded them may hold `https://example.com/商品`). Decided before anything is recorded, so a
    // click is logged only for a redirect that is made.
    const location = asciiUrl(link.u);
    if (location === undefined) {
      void reply.status(400).headers(PAGE_HEADERS).send(invalidLinkPage());
      return;
    }
    // Link checkers probe with HEAD (Fastify answers HEAD with the GET handler): only a GET is a click.
    if (request.method === 'GET') await this.record(link.w, link.p, clickedEvent(link, userAgent, now));
    void reply.status(302).headers({ location, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }).send();
  }

  private async record(workspace: string, person: string, event: NewEvent): Promise<void> {
    try {
      await this.store.append(personStream(workspace, person), [event]);
    } catch (error) {
      this.logger.error(`Could not record ${event.type} for ${person} in ${workspace}: ${(error as Error).message}`);
    }
  }
}

function seconds(now: Date): number {
  return Math.floor(now.getTime() / 1000);
}
