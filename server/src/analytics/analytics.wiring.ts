/** What analytics adds to the app: the sink's lifecycle, its /metrics gauges and the API. */
import type { Provider, Type } from '@nestjs/common';
import type { HeraldConfig } from '../config';
import { EVENT_STORE, type EventStore } from '../event-store/event-store.port';
import { Metrics } from '../operations/metrics';
import type { StateDb } from '../state/state-db';
import { AnalyticsController } from './analytics.controller';
import { AnalyticsService } from './analytics.service';

export function analyticsControllers(): Type[] {
  return [AnalyticsController];
}

export function analyticsProviders(config: HeraldConfig, stateDbToken: symbol): Provider[] {
  return [
    {
      provide: AnalyticsService,
      useFactory: (store: EventStore, db: StateDb, metrics: Metrics) => new AnalyticsService({ ...config.analytics, dataDir: config.dataDir }, store, db, metrics),
      inject: [EVENT_STORE, stateDbToken, Metrics],
    },
  ];
}
