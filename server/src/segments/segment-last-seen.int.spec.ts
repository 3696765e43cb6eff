/**
 * An event that moves only a person's last seen leaves their record as it is (with a million
 * persons a record rewrite is a random page of a large B-tree) and goes to `segment_last_seen`
 * instead. Last seen must still be exact: events with old timestamps never move it back, and an
 * identity merge keeps the later of both persons' (also when the merged person's time is not
 * committed yet). A rebuild stores exactly what the live runner stored.
 */
import { anonymousStream, userStream } from '@herald/projections';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NewEvent } from '../event-store/event-store.port';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { identityProjection } from '../identity/identity.projection';
import { ProjectionRunner } from '../projection-runner/projection-runner';
import { TestClock } from '../shared/clock';
import { uuidv7 } from '../shared/ids';
import { openStateDb, type StateDb } from '../state/state-db';
import { SegmentCatalog } from './segment-catalog';
import { SegmentQueries } from './segment-queries';
import { SEGMENT_TABLES } from './segment-state';
import { SEGMENTS_PROJECTION, SegmentsProjection } from './segments.projection';

const HOUR = 3_600_000;
const T = Date.parse('2026-03-01T10:00:00Z');
/** Received after every occurrence time below, so each event's time is its `occurredAt`. */
const RECEIVED = new Date(T + 24 * HOUR).toISOString();

let dir: string;
let store: SqliteEventStore;
let db: StateDb;
let runner: ProjectionRunner;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'herald-last-seen-'));
  store = new SqliteEventStore({ path: join(dir, 'events.sqlite') });
  db = openStateDb(join(dir, 'state.sqlite'));
  await new SegmentCatalog(store, new TestClock(new Date(T - HOUR))).define('default', {
    id: 'buyers',
    name: 'Ordered',
    where: { performed: 'Order Completed' },
  });
  runner = new ProjectionRunner(store, db);
  runner.start(identityProjection);
  runner.start(new SegmentsProjection(db, store));
});
afterEach(async () => {
  await runner.stop();
  db.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function event(type: string, data: unknown, at: number): NewEvent {
  return { id: uuidv7(), type, data, metadata: { workspace: 'default', occurredAt: new Date(at).toISOString(), receivedAt: RECEIVED, schemaVersion: 1 } };
}
const page = (at: number) => event('PageViewed', { name: 'Pricing', properties: {} }, at);

async function caughtUp(): Promise<void> {
  const head = await store.headPosition();
  const deadline = Date.now() + 10_000;
  while (![identityProjection.name, SEGMENTS_PROJECTION].every((name) => runner.checkpoint(name) >= head)) {
    if (Date.now() > deadline) throw new Error(`projections did not catch up with ${head}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const storedRecord = (person: string) =>
  (db.prepare('SELECT record FROM segment_persons WHERE workspace = ? AND person = ?').get('default', person) as { record: string } | undefined)?.record;
const seen = (person: string) => {
  const profile = new SegmentQueries(db).person('default', person)?.profile;
  return profile && { firstSeen: new Date(profile.firstSeen).toISOString(), lastSeen: new Date(profile.lastSeen).toISOString() };
};
const iso = (at: number) => new Date(at).toISOString();

it('keeps last seen exact without rewriting the record, through old timestamps and identity merges', async () => {
  await store.append(userStream('default', 'ada'), [event('Identified', { traits: { plan: 'pro' } }, T)]);
  await caughtUp();
  const record = storedRecord('user:ada');
  expect(seen('user:ada')).toEqual({ firstSeen: iso(T), lastSeen: iso(T) });

  // Page views change only last seen: the record stays byte for byte; a late-arriving older one moves nothing.
  await store.append(userStream('default', 'ada'), [page(T + 2 * HOUR)]);
  await store.append(userStream('default', 'ada'), [page(T + HOUR)]);
  await caughtUp();
  expect(storedRecord('user:ada')).toBe(record);
  expect(seen('user:ada')).toEqual({ firstSeen: iso(T), lastSeen: iso(T + 2 * HOUR) });

  // An event that changes the record (an order, counted by `buyers`) with an older time keeps the later last seen.
  await store.append(userStream('default', 'ada'), [event('Tracked', { event: 'Order Completed', properties: {} }, T + 90 * 60_000)]);
  await caughtUp();
  expect(storedRecord('user:ada')).not.toBe(record);
  expect(seen('user:ada')).toEqual({ firstSeen: iso(T), lastSeen: iso(T + 2 * HOUR) });

  // A visitor seen a day before and five hours after, whose later time is committed before the merge.
  await store.append(anonymousStream('default', 'v1'), [page(T - 24 * HOUR)]);
  await store.append(anonymousStream('default', 'v1'), [page(T + 5 * HOUR)]);
  await caughtUp();
  expect(seen('anon:v1')).toEqual({ firstSeen: iso(T - 24 * HOUR), lastSeen: iso(T + 5 * HOUR) });
  await store.append(userStream('default', 'ada'), [event('IdentityLinked', { key: 'anon:v1', userId: 'ada' }, T + 3 * HOUR)]);
  await caughtUp();
  expect(seen('anon:v1')).toBeUndefined();
  expect(seen('user:ada')).toEqual({ firstSeen: iso(T - 24 * HOUR), lastSeen: iso(T + 5 * HOUR) });
  expect(db.prepare('SELECT person FROM segment_last_seen ORDER BY person').all()).toEqual([{ person: 'user:ada' }]);

  // A second visitor whose later time is decided in the same batch as the merge, not committed before it.
  await store.append(userStream('default', 'bob'), [event('Identified', { traits: {} }, T)]);
  await caughtUp();
  await Promise.all([
    store.append(anonymousStream('default', 'v2'), [page(T - HOUR)]),
    store.append(anonymousStream('default', 'v2'), [page(T + 7 * HOUR)]),
    store.append(userStream('default', 'bob'), [event('IdentityLinked', { key: 'anon:v2', userId: 'bob' }, T + 6 * HOUR)]),
  ]);
  await caughtUp();
  expect(seen('user:bob')).toEqual({ firstSeen: iso(T - HOUR), lastSeen: iso(T + 7 * HOUR) });
  // Later events of the visitor are the user's.
  await store.append(anonymousStream('default', 'v2'), [page(T + 8 * HOUR)]);
  await caughtUp();
  expect(seen('user:bob')).toEqual({ firstSeen: iso(T - HOUR), lastSeen: iso(T + 8 * HOUR) });
  expect(seen('anon:v2')).toBeUndefined();

  // A rebuild from the log stores exactly the same records and last-seen rows.
  await runner.stop();
  const rebuilt = openStateDb(join(dir, 'rebuilt.sqlite'));
  await new ProjectionRunner(store, rebuilt).rebuildAll([identityProjection, new SegmentsProjection(rebuilt, store, false)], undefined, { pageSize: 3, commitEvery: 5 });
  const dump = (state: StateDb) => SEGMENT_TABLES.map((table) => state.prepare(`SELECT * FROM ${table} ORDER BY 1, 2, 3`).all());
  expect(dump(rebuilt)).toEqual(dump(db));
  rebuilt.close();
});
