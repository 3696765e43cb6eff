/**
 * Exactly once under crashes: the experiments projection, whose appends sometimes "crash" right
 * after they became durable (so its batch is handled again from the last checkpoint), and which is
 * restarted now and then, must conclude the experiment once and count exactly the log's exposures
 * and conversions.
 */
import { gbHash, userStream } from '@herald/projections';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventStore, NewEvent } from '../event-store/event-store.port';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { ProjectionRunner } from '../projection-runner/projection-runner';
import { ScenarioCatalog } from '../scenarios/scenario-catalog';
import { ScenarioEngine } from '../scenarios/scenario-engine';
import { ScenariosProjection } from '../scenarios/scenarios.projection';
import { MessagingSettingsService } from '../settings/messaging-settings.service';
import { TestClock } from '../shared/clock';
import { uuidv7 } from '../shared/ids';
import { openStateDb } from '../state/state-db';
import { crashingStore } from '../test-support/crashing-store';
import { committedCounts, ExperimentsProjection } from './experiments.projection';

const HOUR = 3_600_000;

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'herald-experiments-crash-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('concludes once and counts every exposure and conversion once although appends crash and the runner restarts', async () => {
  let seed = 11;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const store = new SqliteEventStore({ path: join(dir, 'events.sqlite') });
  const db = openStateDb(join(dir, 'state.sqlite'));
  const clock = new TestClock(new Date('2026-03-02T10:00:00Z'));
  let crashes = 0;
  const crashing = crashingStore(store, () => random() < 0.2 && ++crashes > 0);
  // And the first time the conclusion is appended, it "crashes" right after it became durable.
  let conclusionCrashed = false;
  const flaky = new Proxy(crashing, {
    get(target, property, receiver) {
      if (property !== 'append') return Reflect.get(target, property, receiver);
      return async (...args: Parameters<EventStore['append']>) => {
        // Past the random crashes, so it happens whatever they drew (their draws follow batching).
        if (args[1].some((e) => e.type === 'ExperimentConcluded') && !conclusionCrashed) {
          await store.append(...args);
          conclusionCrashed = true;
          throw new Error('simulated crash after the conclusion became durable');
        }
        return target.append(...args);
      };
    },
  });
  await new ScenarioCatalog(store, clock).publish('default', {
    id: 'promo',
    name: 'Promo',
    trigger: { event: 'Signed Up' },
    goal: { event: 'Purchased', within: '3d' },
    steps: [
      {
        id: 'offer',
        send: {
          channel: 'email',
          holdout: 10,
          variants: [
            { key: 'plain', weight: 1, template: 'plain' },
            { key: 'discount', weight: 1, template: 'discount' },
          ],
          autoWinner: { minExposures: 50 },
        },
      },
    ],
  });
  let runner: ProjectionRunner;
  const start = () => {
    const catalog = new ScenarioCatalog(flaky, clock);
    runner = new ProjectionRunner(flaky, db, { retryDelayMs: 1 });
    runner.start(new ScenariosProjection(new ScenarioEngine(flaky, catalog, new MessagingSettingsService(flaky, clock))));
    runner.start(new ExperimentsProjection(db, catalog));
  };
  const caughtUp = async () => {
    for (let i = 0; i < 4000; i++) {
      const head = await store.headPosition();
      if (runner.checkpoint('scenarios') >= head && runner.checkpoint('experiments') >= head) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error('the projections did not catch up');
  };
  const track = async (userId: string, event: string) => {
    const now = clock.now().toISOString();
    const tracked: NewEvent = { id: uuidv7(), type: 'Tracked', data: { event, properties: {} }, metadata: { workspace: 'default', occurredAt: now, receivedAt: now, schemaVersion: 1 } };
    await store.append(userStream('default', userId), [tracked]);
  };
  const variantOf = (userId: string) => {
    const bucket = gbHash('promo:offer', userId, 2)!;
    return bucket < 0.1 ? 'holdout' : (bucket - 0.1) / 0.9 < 0.5 ? 'plain' : 'discount';
  };

  start();
  for (let round = 0; round < 10; round++) {
    const cohort = Array.from({ length: 30 }, (_, i) => `u${round * 30 + i}`);
    // A cohort's events are appended together (one group commit, not one fsync per user: on a busy
    // disk the test took up to 26 s with one at a time).
    await Promise.all(cohort.map((userId) => track(userId, 'Signed Up')));
    await caughtUp();
    clock.advance(HOUR);
    // Discount converts one in two, plain one in ten (before the conclusion; after it, everyone but the holdout has discount).
    await Promise.all(cohort.filter((userId, i) => i % (variantOf(userId) === 'discount' ? 2 : 10) === 0).map((userId) => track(userId, 'Purchased')));
    await caughtUp();
    if (round % 3 === 2) {
      await runner!.stop();
      start();
    }
  }
  await caughtUp();
  await runner!.stop();

  const all = await store.readAll();
  const concluded = all.filter((e) => e.type === 'ExperimentConcluded');
  expect(conclusionCrashed).toBe(true);
  expect(crashes).toBeGreaterThan(10);
  expect(concluded).toHaveLength(1);
  expect(concluded[0].data).toMatchObject({ winner: 'discount', cause: { kind: 'auto' } });

  // The counts are the log's, each exposure and conversion once.
  const expected = new Map<string, { exposures: number; conversions: number }>();
  const armOf = new Map<string, string>();
  for (const event of all) {
    const data = event.data as { enrollmentId: string; variant: string; concludedBy?: string };
    if (event.type === 'VariantAssigned') {
      const key = `${data.variant}/${data.concludedBy ? 'rollout' : 'experiment'}`;
      armOf.set(data.enrollmentId, key);
      const arm = expected.get(key) ?? { exposures: 0, conversions: 0 };
      expected.set(key, { ...arm, exposures: arm.exposures + 1 });
    } else if (event.type === 'GoalReached') {
      const key = armOf.get(data.enrollmentId)!;
      const arm = expected.get(key)!;
      expected.set(key, { ...arm, conversions: arm.conversions + 1 });
    }
  }
  const counted = committedCounts(db, 'default', 'promo', 'offer');
  expect(Object.fromEntries(counted.map((a) => [`${a.variant}/${a.phase}`, { exposures: a.exposures, conversions: a.conversions }]))).toEqual(
    Object.fromEntries(expected),
  );
  expect(counted.reduce((total, a) => total + a.exposures, 0)).toBe(300);
  expect(expected.has('discount/rollout')).toBe(true);
  db.close();
  await store.close();
});
