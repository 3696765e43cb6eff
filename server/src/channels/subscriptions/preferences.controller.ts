/** The hosted preference page (`/preferences/<token>`), linked from every email and from the unsubscribe page. */
import { Body, Controller, Get, Inject, Param, Post, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CLOCK, type Clock } from '../../shared/clock';
import { LinkSigner } from '../link-signer';
import { invalidLinkPage, PAGE_HEADERS } from './html';
import { preferencesPage } from './pages';
import { formValues } from './subscriptions';
import { SubscriptionsService } from './subscriptions.service';

@ApiTags('subscriptions')
@Controller('preferences')
export class PreferencesController {
  constructor(
    @Inject(SubscriptionsService) private readonly subscriptions: SubscriptionsService,
    @Inject(LinkSigner) private readonly links: LinkSigner,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Get(':token')
  @ApiOperation({ summary: 'Preference page: the person’s subscription on each channel and topic, with toggles' })
  async show(@Param('token') token: string, @Res() reply: FastifyReply): Promise<void> {
    const link = this.verify(token);
    if (!link) return void reply.status(400).headers(PAGE_HEADERS).send(invalidLinkPage());
    void reply.status(200).headers(PAGE_HEADERS).send(preferencesPage(await this.subscriptions.preferences(link.workspace, link.person), false));
  }

  @Post(':token')
  @ApiOperation({ summary: 'Save the preference form (`shown` = keys on the form, `subscribed` = keys ticked): Subscribed/Unsubscribed for what changed' })
  async save(@Param('token') token: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    const link = this.verify(token);
    if (!link) return void reply.status(400).headers(PAGE_HEADERS).send(invalidLinkPage());
    await this.subscriptions.updatePreferences(link.workspace, link.person, token, formValues(body, 'shown'), formValues(body, 'subscribed'));
    void reply.status(200).headers(PAGE_HEADERS).send(preferencesPage(await this.subscriptions.preferences(link.workspace, link.person), true));
  }

  private verify(token: string) {
    const payload = this.links.verify(token, Math.floor(this.clock.now().getTime() / 1000));
    return payload?.k === 'p' ? { workspace: payload.w, person: payload.p } : undefined;
  }
}
