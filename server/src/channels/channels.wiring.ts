/**
 * Everything the channels add to the app: the templates, the signed links, each configured
 * provider, the dispatcher that sends through them, and their HTTP endpoints. A channel whose
 * variables are unset goes to the sandbox (the message is recorded as sent, nothing leaves Herald).
 */
import type { Provider, Type } from '@nestjs/common';
import type { HeraldConfig } from '../config';
import { EVENT_STORE, type EventStore } from '../event-store/event-store.port';
import { CLOCK, type Clock } from '../shared/clock';
import type { StateDb } from '../state/state-db';
import { TemplateRenderer } from '../templates/template-renderer';
import { TemplateStore } from '../templates/template-store';
import { TemplatesController } from '../templates/templates.controller';
import type { ChannelAdapter } from './channel.port';
import { Dispatcher, DispatchRetryTimers } from './dispatcher.projection';
import { EmailAdapter } from './email/email.adapter';
import { emailControllers, emailProviders, emailReportControllers } from './email/email.providers';
import { InAppAdapter } from './in-app/in-app.adapter';
import { inAppControllers, inAppProviders } from './in-app/in-app.providers';
import { LinkSigner } from './link-signer';
import { WebPushAdapter } from './push/web-push.adapter';
import { pushControllers, pushProviders } from './push/push.providers';
import { subscriptionControllers, subscriptionProviders } from './subscriptions/subscriptions.providers';
import { TelegramAdapter } from './telegram/telegram.adapter';
import { telegramControllers, telegramProviders } from './telegram/telegram.providers';
import { TWILIO_ADAPTERS, twilioControllers, twilioProviders } from './twilio/twilio.providers';

export function channelControllers(config: HeraldConfig): Type[] {
  return [
    TemplatesController,
    ...emailControllers(),
    ...emailReportControllers(),
    ...subscriptionControllers(),
    ...twilioControllers(config),
    ...telegramControllers(config),
    ...pushControllers(config),
    ...inAppControllers,
  ];
}

export function channelProviders(config: HeraldConfig, stateDbToken: symbol): Provider[] {
  return [
    { provide: LinkSigner, useFactory: () => LinkSigner.fromDataDir(config.dataDir, config.publicUrl, config.linkSecret) },
    { provide: TemplateStore, useFactory: (store: EventStore, clock: Clock) => new TemplateStore(store, clock), inject: [EVENT_STORE, CLOCK] },
    { provide: TemplateRenderer, useFactory: (templates: TemplateStore) => new TemplateRenderer(templates), inject: [TemplateStore] },
    ...emailProviders(config),
    ...subscriptionProviders(),
    ...twilioProviders(config, stateDbToken),
    ...telegramProviders(config),
    ...pushProviders(config),
    ...inAppProviders(),
    {
      provide: DispatchRetryTimers,
      useFactory: (db: StateDb, store: EventStore, clock: Clock) => new DispatchRetryTimers(db, store, clock),
      inject: [stateDbToken, EVENT_STORE, CLOCK],
    },
    {
      provide: Dispatcher,
      useFactory: (
        db: StateDb,
        store: EventStore,
        links: LinkSigner,
        clock: Clock,
        renderer: TemplateRenderer,
        inApp: InAppAdapter,
        email?: EmailAdapter,
        twilio?: Partial<Record<'sms' | 'whatsapp', ChannelAdapter>>,
        telegram?: TelegramAdapter,
        push?: WebPushAdapter,
      ) =>
        new Dispatcher(
          db,
          store,
          { in_app: inApp, ...(email ? { email } : {}), ...(twilio ?? {}), ...(telegram ? { telegram } : {}), ...(push ? { push } : {}) },
          renderer,
          links,
          clock,
          config.channels.dispatch,
        ),
      inject: [
        stateDbToken,
        EVENT_STORE,
        LinkSigner,
        CLOCK,
        TemplateRenderer,
        InAppAdapter,
        { token: EmailAdapter, optional: true },
        { token: TWILIO_ADAPTERS, optional: true },
        { token: TelegramAdapter, optional: true },
        { token: WebPushAdapter, optional: true },
      ],
    },
  ];
}
