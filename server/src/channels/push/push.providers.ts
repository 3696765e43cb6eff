/** What AppModule registers for web push; the push controller only when WEB_PUSH is not `off`. */
import type { Provider, Type } from '@nestjs/common';
import type { HeraldConfig } from '../../config';
import { EVENT_STORE, type EventStore } from '../../event-store/event-store.port';
import { CLOCK, type Clock } from '../../shared/clock';
import { AccessTokenController } from './access-token.controller';
import { PushController } from './push.controller';
import { PushSubscriptions } from './push-subscriptions.service';
import { loadOrCreateVapidKeys, VAPID_KEYS, type VapidKeys } from './vapid-keys';
import { WebPushAdapter } from './web-push.adapter';

/** The access-token endpoint is always there (the in-app inbox uses the same tokens). */
export function pushControllers(config: HeraldConfig): Type[] {
  return config.channels.webPush.enabled ? [AccessTokenController, PushController] : [AccessTokenController];
}

export function pushProviders(config: HeraldConfig): Provider[] {
  const { webPush } = config.channels;
  if (!webPush.enabled) return [];
  return [
    { provide: VAPID_KEYS, useFactory: () => loadOrCreateVapidKeys(config.dataDir) },
    { provide: WebPushAdapter, useFactory: (vapid: VapidKeys) => new WebPushAdapter({ vapid, subject: webPush.subject }), inject: [VAPID_KEYS] },
    { provide: PushSubscriptions, useFactory: (store: EventStore, clock: Clock) => new PushSubscriptions(store, clock), inject: [EVENT_STORE, CLOCK] },
  ];
}
