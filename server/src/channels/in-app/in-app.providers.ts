/**
 * What the application module registers for the in-app channel. It needs `EVENT_STORE`, `CLOCK` and
 * `LinkSigner` from the module; `InAppAdapter` is what the dispatcher is given for `in_app`.
 */
import type { Provider } from '@nestjs/common';
import { EVENT_STORE, type EventStore } from '../../event-store/event-store.port';
import { CLOCK, type Clock } from '../../shared/clock';
import { InAppAdapter } from './in-app.adapter';
import { InboxFeed } from './inbox-feed';
import { InboxStreams, type InboxStreamsOptions } from './inbox-streams';
import { InboxTokenGuard } from './inbox-token.guard';
import { InboxController } from './inbox.controller';
import { InboxService } from './inbox.service';

export const inAppControllers = [InboxController];

export function inAppProviders(options: InboxStreamsOptions = {}): Provider[] {
  return [
    { provide: InAppAdapter, useFactory: (store: EventStore, clock: Clock) => new InAppAdapter(store, clock), inject: [EVENT_STORE, CLOCK] },
    { provide: InboxService, useFactory: (store: EventStore, clock: Clock) => new InboxService(store, clock), inject: [EVENT_STORE, CLOCK] },
    { provide: InboxFeed, useFactory: (store: EventStore) => new InboxFeed(store), inject: [EVENT_STORE] },
    {
      provide: InboxStreams,
      useFactory: (feed: InboxFeed, inbox: InboxService, clock: Clock) => new InboxStreams(feed, inbox, clock, options),
      inject: [InboxFeed, InboxService, CLOCK],
    },
    InboxTokenGuard,
  ];
}
