// Shared pieces of bench:scenarios: the Herald under test (the whole app, or only the scenario
// reactor on a projection runner), the scenarios it runs, trigger events, and a log watcher that
// notes when events become visible to a subscriber.
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { requireDist, serverRequire } from './common.mjs';

export const WORKSPACE = 'default';

/**
 * The abandoned cart's reminder step (examples/scenarios/abandoned-cart.yaml): an email with two
 * variants over the example templates the app seeds, without the holdout so every trigger queues a
 * message.
 */
const REMINDER = {
  channel: 'email',
  variants: [
    { key: 'plain', weight: 50, subject: "You left something behind, {{ user.first_name | default: 'friend' }}", template: 'cart-plain' },
    { key: 'discount', weight: 50, subject: '10% off what you left in your cart', template: 'cart-discount' },
  ],
};

/** Part 1: the abandoned cart without its wait: a trigger queues the reminder at once. */
export const SEND_NOW = {
  id: 'bench-send-now',
  name: 'Bench: abandoned cart, no wait',
  trigger: { event: 'Go' },
  entry: { reenter: 'always' },
  steps: [{ id: 'reminder', send: REMINDER }],
};

/** Part 2: the abandoned cart's first two steps. The waits' due times are set directly in set-up. */
export const WAIT_THEN_SEND = {
  id: 'bench-wait',
  name: 'Bench: abandoned cart, wait then remind',
  trigger: { event: 'Wait' },
  entry: { reenter: 'always' },
  steps: [
    { id: 'wait-1h', wait: '1h' },
    { id: 'reminder', send: REMINDER },
  ],
};

/** What a `Checkout Started` carries (the reminder templates show the cart's products). */
const PROPERTIES = {
  cart_id: 'cart-1234',
  currency: 'EUR',
  value: 84.5,
  products: [
    { name: 'Trail shoes', price: 64.5, quantity: 1 },
    { name: 'Socks', price: 10, quantity: 2 },
  ],
};

/** A `Tracked` event as ingestion stores it (see bench/lib/events.mjs), for `userId`. */
export function trackedEvent(userId, event, id, at = Date.now()) {
  const now = new Date(at).toISOString();
  return {
    id,
    type: 'Tracked',
    data: {
      type: 'track',
      messageId: id,
      userId,
      event,
      properties: PROPERTIES,
      context: {},
      integrations: {},
      timestamp: now,
      receivedAt: now,
    },
    metadata: { workspace: WORKSPACE, correlationId: id, occurredAt: now, receivedAt: now, schemaVersion: 1 },
  };
}

/**
 * Herald as `createHeraldApp` wires it (identity, segments, scenarios, sandbox dispatch and webhooks
 * projections, segment and scenario timers, broadcasts), without the HTTP listener: load is appended
 * straight to its event store, as the ingestion handler does.
 */
export async function startApp(dataDir, { clock } = {}) {
  const { createHeraldApp } = requireDist('app.js');
  const { configFromEnv } = requireDist('config.js');
  const { EVENT_STORE } = requireDist('event-store/event-store.port.js');
  const { ScenarioCatalog } = requireDist('scenarios/scenario-catalog.js');
  const { ScenarioEngine } = requireDist('scenarios/scenario-engine.js');
  const { ProjectionRunner } = requireDist('projection-runner/projection-runner.js');
  const config = configFromEnv({
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_TOKEN: 'bench-admin-token',
    DEFAULT_WRITE_KEY: 'bench-write-key',
    LOG_LEVEL: 'error',
    SQLITE_WRITER_THREAD: process.env.SQLITE_WRITER_THREAD,
    ANALYTICS: process.env.ANALYTICS,
  });
  const app = await createHeraldApp({ config, clock });
  const store = app.get(EVENT_STORE, { strict: false });
  const runner = app.get(ProjectionRunner, { strict: false });
  const { AnalyticsService } = requireDist('analytics/analytics.service.js');
  const analytics = app.get(AnalyticsService, { strict: false });
  return {
    kind: 'app',
    store,
    catalog: app.get(ScenarioCatalog, { strict: false }),
    engine: app.get(ScenarioEngine, { strict: false }),
    runner,
    /** Waits until every projection and the analytics sink have reached the log's head (after a start over a long log). */
    async caughtUp(timeoutMs = 600_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const head = await store.headPosition();
        const projectionsDone = runner.names().every((name) => runner.checkpoint(name) >= head);
        const sinkDone = (await analytics.lag()).events === 0;
        if (projectionsDone && sinkDone) return;
        if (Date.now() > deadline) throw new Error(`the app did not catch up with the log (head ${head}) in ${timeoutMs / 1000} s`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    close: () => app.close(),
  };
}

/**
 * The scenario reactor alone (the scenarios projection on a projection runner, same store and state
 * database as the app; no identity, segments, dispatcher or webhooks beside it): what the engine
 * itself can do.
 */
export async function startEngineOnly(dataDir) {
  const { SqliteEventStore } = requireDist('event-store/sqlite/sqlite-event-store.js');
  const { openStateDb } = requireDist('state/state-db.js');
  const { ProjectionRunner } = requireDist('projection-runner/projection-runner.js');
  const { ScenarioCatalog } = requireDist('scenarios/scenario-catalog.js');
  const { ScenarioEngine } = requireDist('scenarios/scenario-engine.js');
  const { ScenariosProjection } = requireDist('scenarios/scenarios.projection.js');
  const { MessagingSettingsService } = requireDist('settings/messaging-settings.service.js');
  const { systemClock } = requireDist('shared/clock.js');
  const store = new SqliteEventStore({ path: join(dataDir, 'events.sqlite'), writerThread: process.env.SQLITE_WRITER_THREAD !== '0' });
  const db = openStateDb(join(dataDir, 'state.sqlite'));
  const catalog = new ScenarioCatalog(store, systemClock);
  const engine = new ScenarioEngine(store, catalog, new MessagingSettingsService(store, systemClock));
  const runner = new ProjectionRunner(store, db, { onError: (name, error) => console.error(`projection ${name} failed: ${error?.stack ?? error}`) });
  runner.start(new ScenariosProjection(engine));
  return {
    kind: 'engine',
    store,
    db,
    catalog,
    engine,
    runner,
    close: async () => {
      await runner.stop();
      await store.close();
      db.close();
    },
  };
}

/**
 * Follows the log from `afterPosition` as a downstream consumer would, and calls `onEvent(event, now)`
 * for the events of `types`, with the moment (performance.now()) it became visible.
 */
export function watchLog(store, afterPosition, types, onEvent) {
  const subscription = store.subscribeToAll({ afterPosition, filter: { eventTypes: types } });
  const done = (async () => {
    for await (const event of subscription) onEvent(event, performance.now());
  })();
  return {
    stop: async () => {
      await subscription.stop();
      await done;
    },
  };
}

export const { uuidv7, uuidv5 } = requireDist('shared/ids.js');
export const projections = serverRequire('@herald/projections');

/**
 * What one durable commit costs on this disk: `count` one-row transactions in a SQLite file with the
 * event log's pragmas (WAL, synchronous = FULL), timed one by one. A reactor that waits for one such
 * commit per event can never handle more than 1000 / (this many ms) events per second.
 */
export function measureDurableCommit(dir, count = 300) {
  const Database = serverRequire('better-sqlite3');
  const db = new Database(join(dir, 'commit.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
  const commit = db.transaction((body) => insert.run(body));
  const body = 'x'.repeat(500);
  const times = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    commit(body);
    times.push(performance.now() - t0);
  }
  db.close();
  return times;
}
