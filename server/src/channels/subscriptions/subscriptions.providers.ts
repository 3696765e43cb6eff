/** What AppModule registers for the unsubscribe link and the preference page. Needs `LinkSigner`, `EVENT_STORE` and `CLOCK`. */
import type { Provider, Type } from '@nestjs/common';
import { EVENT_STORE, type EventStore } from '../../event-store/event-store.port';
import { CLOCK, type Clock } from '../../shared/clock';
import { PreferencesController } from './preferences.controller';
import { SubscriptionsService } from './subscriptions.service';
import { UnsubscribeController } from './unsubscribe.controller';

export function subscriptionControllers(): Type[] {
  return [UnsubscribeController, PreferencesController];
}

export function subscriptionProviders(): Provider[] {
  return [{ provide: SubscriptionsService, useFactory: (store: EventStore, clock: Clock) => new SubscriptionsService(store, clock), inject: [EVENT_STORE, CLOCK] }];
}
