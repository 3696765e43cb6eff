/**
 * The unsubscribe link of every message (`/u/<token>`, also in the List-Unsubscribe header).
 * GET only shows a confirmation page, because link scanners and previews fetch links nobody clicked;
 * POST unsubscribes. A POST with the body `List-Unsubscribe=One-Click` is the RFC 8058 one-click
 * request a mail client sends on its own and gets an empty 200.
 */
import { Body, Controller, Get, Inject, Param, Post, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CLOCK, type Clock } from '../../shared/clock';
import { LinkSigner } from '../link-signer';
import { invalidLinkPage, PAGE_HEADERS } from './html';
import { unsubscribeConfirmPage, unsubscribedPage } from './pages';
import { formValues, isChannel } from './subscriptions';
import { SubscriptionsService } from './subscriptions.service';

@ApiTags('subscriptions')
@Controller('u')
export class UnsubscribeController {
  constructor(
    @Inject(SubscriptionsService) private readonly subscriptions: SubscriptionsService,
    @Inject(LinkSigner) private readonly links: LinkSigner,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Get(':token')
  @ApiOperation({ summary: 'Unsubscribe page: asks to confirm (a GET never unsubscribes)' })
  async confirm(@Param('token') token: string, @Res() reply: FastifyReply): Promise<void> {
    const link = this.verify(token);
    if (!link) return void reply.status(400).headers(PAGE_HEADERS).send(invalidLinkPage());
    const contact = await this.subscriptions.contact(link.workspace, link.person);
    const html = contact.unsubscribed.has(link.channel)
      ? unsubscribedPage(link.channel, this.preferencesUrl(link))
      : unsubscribeConfirmPage(link.channel, this.preferencesUrl(link));
    void reply.status(200).headers(PAGE_HEADERS).send(html);
  }

  @Post(':token')
  @ApiOperation({ summary: 'Unsubscribe from the channel of the message; RFC 8058 one-click with `List-Unsubscribe=One-Click` (form body)' })
  async unsubscribe(@Param('token') token: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    const link = this.verify(token);
    if (!link) return void reply.status(400).headers(PAGE_HEADERS).send(invalidLinkPage());
    const oneClick = formValues(body, 'List-Unsubscribe').includes('One-Click');
    await this.subscriptions.unsubscribe(link, oneClick ? 'one-click' : 'page');
    if (oneClick) return void reply.status(200).header('cache-control', 'no-store').send();
    void reply.status(200).headers(PAGE_HEADERS).send(unsubscribedPage(link.channel, this.preferencesUrl(link)));
  }

  private verify(token: string) {
    const payload = this.links.verify(token, Math.floor(this.clock.now().getTime() / 1000));
    if (payload?.k !== 'u' || !isChannel(payload.ch)) return undefined;
    return { workspace: payload.w, person: payload.p, channel: payload.ch, messageId: payload.m, token };
  }

  private preferencesUrl(link: { workspace: string; person: string }): string {
    return this.links.url('/preferences', { k: 'p', w: link.workspace, p: link.person });
  }
}
