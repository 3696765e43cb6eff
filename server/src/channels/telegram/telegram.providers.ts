/** What AppModule registers for Telegram; nothing when TELEGRAM_BOT_TOKEN is unset (messages go to the sandbox). */
import type { Provider, Type } from '@nestjs/common';
import type { Api } from 'grammy';
import type { HeraldConfig } from '../../config';
import { EVENT_STORE, type EventStore } from '../../event-store/event-store.port';
import { IdentityService } from '../../identity/identity.service';
import { CLOCK, type Clock } from '../../shared/clock';
import { createTelegramApi, TelegramAdapter } from './telegram.adapter';
import { TELEGRAM_HTTP_SETTINGS, TelegramController, type TelegramHttpSettings } from './telegram.controller';
import { TelegramLinks } from './telegram-links.service';

export const TELEGRAM_API = Symbol('TelegramApi');

export function telegramControllers(config: HeraldConfig): Type[] {
  return config.channels.telegram ? [TelegramController] : [];
}

export function telegramProviders(config: HeraldConfig): Provider[] {
  const telegram = config.channels.telegram;
  if (!telegram) return [];
  return [
    { provide: TELEGRAM_API, useFactory: () => createTelegramApi(telegram) },
    { provide: TelegramAdapter, useFactory: (api: Api) => new TelegramAdapter(api), inject: [TELEGRAM_API] },
    {
      provide: TelegramLinks,
      useFactory: (store: EventStore, api: Api, identity: IdentityService, clock: Clock) => new TelegramLinks(store, api, identity, clock, telegram),
      inject: [EVENT_STORE, TELEGRAM_API, IdentityService, CLOCK],
    },
    { provide: TELEGRAM_HTTP_SETTINGS, useValue: { webhookSecret: telegram.webhookSecret, publicUrl: config.publicUrl } satisfies TelegramHttpSettings },
  ];
}
