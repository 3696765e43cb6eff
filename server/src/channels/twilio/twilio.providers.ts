/**
 * What AppModule registers for Twilio; nothing when TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN are unset
 * (SMS and WhatsApp then go to the sandbox). The state database token is passed in rather than
 * imported, so this file does not import app.module (which imports it).
 */
import type { Provider, Type } from '@nestjs/common';
import type { HeraldConfig } from '../../config';
import { EVENT_STORE, type EventStore } from '../../event-store/event-store.port';
import { CLOCK, type Clock } from '../../shared/clock';
import type { StateDb } from '../../state/state-db';
import { PhoneIndexProjection, PhoneIndexReader } from './phone-index.projection';
import { createTwilioAdapters } from './twilio.adapter';
import { TwilioWebhooksController } from './twilio-webhooks.controller';
import { TwilioWebhooks } from './twilio-webhooks.service';

/** `Partial<Record<'sms' | 'whatsapp', TwilioAdapter>>`, for the dispatcher's adapters. */
export const TWILIO_ADAPTERS = Symbol('TwilioAdapters');

export function twilioControllers(config: HeraldConfig): Type[] {
  return config.channels.twilio ? [TwilioWebhooksController] : [];
}

export function twilioProviders(config: HeraldConfig, stateDbToken: symbol): Provider[] {
  const twilio = config.channels.twilio;
  if (!twilio) return [];
  return [
    { provide: TWILIO_ADAPTERS, useFactory: () => createTwilioAdapters(config) },
    // Hosted by the ProjectionRunner (runner.start(phoneIndex)); the webhooks read its table.
    { provide: PhoneIndexProjection, useFactory: () => new PhoneIndexProjection() },
    {
      provide: TwilioWebhooks,
      useFactory: (store: EventStore, db: StateDb, clock: Clock) =>
        new TwilioWebhooks(store, new PhoneIndexReader(db), clock, { publicUrl: config.publicUrl, authToken: twilio.authToken }),
      inject: [EVENT_STORE, stateDbToken, CLOCK],
    },
  ];
}
