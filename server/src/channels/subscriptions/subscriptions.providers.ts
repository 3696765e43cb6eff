/**
 * What AppModule registers for the unsubscribe link and the preference page. Needs `LinkSigner`,
 * `EVENT_STORE` and `CLOCK`; with a `ScenarioCatalog` the preference page also offers the topics of
 * the workspace's scenarios.
 */
import type { Provider, Type } from '@nestjs/common';
import { EVENT_STORE, type EventStore } from '../../event-store/event-store.port';
import { ScenarioCatalog } from '../../scenarios/scenario-catalog';
import { CLOCK, type Clock } from '../../shared/clock';
import { PreferencesController } from './preferences.controller';
import { topicsOfScenarios } from './subscriptions';
import { SubscriptionsService } from './subscriptions.service';
import { UnsubscribeController } from './unsubscribe.controller';

export function subscriptionControllers(): Type[] {
  return [UnsubscribeController, PreferencesController];
}

export function subscriptionProviders(): Provider[] {
  return [
    {
      provide: SubscriptionsService,
      useFactory: (store: EventStore, clock: Clock, catalog?: ScenarioCatalog) =>
        new SubscriptionsService(store, clock, catalog ? (workspace) => scenarioTopics(catalog, workspace) : undefined),
      inject: [EVENT_STORE, CLOCK, { token: ScenarioCatalog, optional: true }],
    },
  ];
}

/** The topics of the latest version of each scenario that is not archived. */
async function scenarioTopics(catalog: ScenarioCatalog, workspace: string) {
  const entries = [...(await catalog.read(workspace)).entries.values()].filter((entry) => entry.status !== 'archived');
  return topicsOfScenarios(entries.flatMap((entry) => entry.versions.slice(-1).map((version) => version.definition)));
}
