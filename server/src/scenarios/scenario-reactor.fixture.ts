/**
 * The scenarios reactor on a real SQLite log and state database in `dir`, hosted by a runner that
 * can be restarted, over a store whose appends "crash" (after writing) when `crash` says so: the
 * bed of the exactly-once specs.
 */
import type { ScenarioDefinition } from '@herald/projections';
import { join } from 'node:path';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { ProjectionRunner } from '../projection-runner/projection-runner';
import { MessagingSettingsService } from '../settings/messaging-settings.service';
import { TestClock } from '../shared/clock';
import { openStateDb } from '../state/state-db';
import { crashingStore } from '../test-support/crashing-store';
import { ScenarioCatalog } from './scenario-catalog';
import { ScenarioEngine } from './scenario-engine';
import { ScenarioTimers } from './scenario-timers';
import { ScenariosProjection } from './scenarios.projection';

export async function scenarioReactorBed(dir: string, scenario: ScenarioDefinition, crash: () => boolean = () => false) {
  const store = new SqliteEventStore({ path: join(dir, 'events.sqlite') });
  const db = openStateDb(join(dir, 'state.sqlite'));
  const clock = new TestClock(new Date('2026-03-02T10:00:00Z'));
  const flaky = crashingStore(store, crash);
  await new ScenarioCatalog(store, clock).publish('default', scenario);
  let runner: ProjectionRunner;
  let engine: ScenarioEngine;
  const start = () => {
    engine = new ScenarioEngine(flaky, new ScenarioCatalog(flaky, clock), new MessagingSettingsService(flaky, clock));
    runner = new ProjectionRunner(flaky, db, { retryDelayMs: 1 });
    runner.start(new ScenariosProjection(engine));
  };
  start();
  return {
    store,
    db,
    clock,
    timers: new ScenarioTimers(db, store, clock),
    /** The engine of the runner started last. */
    engine: () => engine,
    runner: () => runner,
    caughtUp: async () => {
      for (let i = 0; i < 4000; i++) {
        if (runner.checkpoint('scenarios') >= (await store.headPosition())) return;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      throw new Error('the reactor did not catch up');
    },
    /** A new runner and engine resume from the committed checkpoint. */
    restart: async () => {
      await runner.stop();
      start();
    },
    stop: () => runner.stop(),
  };
}
