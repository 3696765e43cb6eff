/**
 * Embedded chDB is the default analytics engine, and its data lives under DATA_DIR: what the sink
 * inserted is still there after the store is closed and opened again (a restart of Herald).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureAnalyticsSchema } from './analytics-schema';
import type { AnalyticsStore } from './analytics-store.port';
import { createAnalyticsStore } from './create-analytics-store';
import { ChdbAnalyticsStore } from './chdb-analytics-store';
import { sql } from './sql';

let dataDir: string;
let store: AnalyticsStore | undefined;

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'herald-chdb-persist-'));
});
afterEach(async () => {
  await store?.close();
  store = undefined;
  rmSync(dataDir, { recursive: true, force: true });
});

const countEvents = async (target: AnalyticsStore) =>
  Number((await target.query<{ events: string | number }>(sql`SELECT count() AS events FROM events WHERE workspace = ${'default'}`))[0].events);

it('keeps its tables and rows in DATA_DIR/analytics across a close and a reopen', async () => {
  store = await createAnalyticsStore({ dataDir });
  expect(store).toBeInstanceOf(ChdbAnalyticsStore);
  expect((store as ChdbAnalyticsStore).folder).toBe(join(dataDir, 'analytics'));
  await ensureAnalyticsSchema(store);
  await store.insert(
    'events',
    ['a', 'b', 'c'].map((id, index) => ({ workspace: 'default', event_id: id, type: 'Tracked', position: index + 1, occurred_at: '2026-03-02 10:00:00' })),
  );
  expect(await countEvents(store)).toBe(3);
  await store.close();
  store = undefined;
  expect(readdirSync(join(dataDir, 'analytics')).length).toBeGreaterThan(0);

  store = await createAnalyticsStore({ dataDir });
  expect(await countEvents(store)).toBe(3);
  // Opening it again creates nothing over what is there.
  await ensureAnalyticsSchema(store);
  expect(await countEvents(store)).toBe(3);
});

it('starts empty in a new DATA_DIR', async () => {
  store = await createAnalyticsStore({ dataDir });
  expect(existsSync(join(dataDir, 'analytics'))).toBe(true);
  await ensureAnalyticsSchema(store);
  expect(await countEvents(store)).toBe(0);
});
