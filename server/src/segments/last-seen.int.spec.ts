/**
 * An event that moves only a person's last seen leaves their record unwritten; its time is noted
 * beside the record and folded now and then. What a reader gets must still be exact: the latest
 * occurrence time of the person's events, also across identity merges, folds and restarts.
 */
import { anonymousStream, userStream } from '@herald/projections';
import type { NewEvent } from '../event-store/event-store.port';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { identityProjection } from '../identity/identity.projection';
import { ProjectionRunner } from '../projection-runner/projection-runner';
import { TestClock } from '../shared/clock';
import { uuidv7 } from '../shared/ids';
import type { StateDb } from '../state/state-db';
import { SegmentCatalog } from './segment-catalog';
import { SegmentQueries } from './segment-queries';
import { SEGMENTS_PROJECTION, SegmentsProjection } from './segments.projection';
import { useLogAndState } from '../test-support/log-and-state';

const HOUR = 3_600_000;
const T = Date.parse('2026-02-01T12:00:00Z');

let runner: ProjectionRunner;
const files = useLogAndState('last-seen', () => runner.stop());
let store: SqliteEventStore;
let db: StateDb;
beforeEach(() => ({ store, db } = files));

/** Identity and segments, last seen folded every `foldRows` rows. */
function start(foldRows: number): void {
  runner = new ProjectionRunner(store, db, { retryDelayMs: 1 });
  runner.start(identityProjection);
  runner.start(new SegmentsProjection(db, store, true, foldRows));
}

async function caughtUp(): Promise<void> {
  const head = await store.headPosition();
  const deadline = Date.now() + 10_000;
  while (runner.checkpoint(SEGMENTS_PROJECTION) < head || runner.checkpoint(identityProjection.name) < head) {
    if (Date.now() > deadline) throw new Error('projections did not catch up');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** An event that happened at `at`, received at `receivedAt` (later for a late event). */
function append(stream: string, type: string, data: unknown, at: number, receivedAt = at) {
  const event: NewEvent = {
    id: uuidv7(),
    type,
    data,
    metadata: { workspace: 'default', occurredAt: new Date(at).toISOString(), receivedAt: new Date(receivedAt).toISOString(), schemaVersion: 1 },
  };
  return store.append(stream, [event]);
}

const pageView = (stream: string, at: number, receivedAt = at) => append(stream, 'PageViewed', { name: 'Pricing', properties: {} }, at, receivedAt);
const storedRow = (person: string) => db.prepare('SELECT record FROM segment_persons WHERE workspace = ? AND person = ?').get('default', person);
const lastSeen = (person: string) => new SegmentQueries(db).person('default', person)?.profile.lastSeen;

it('a page view leaves the record unwritten, and the person is still last seen at its time, before and after a fold', async () => {
  await new SegmentCatalog(store, new TestClock(new Date(T - HOUR))).define('default', { id: 'buyers', name: 'Buyers', where: { performed: 'Order Completed' } });
  start(3);
  await append(userStream('default', 'u'), 'Tracked', { event: 'Order Completed', properties: {} }, T);
  await caughtUp();
  const written = storedRow('user:u');
  expect(lastSeen('user:u')).toBe(T);

  await pageView(userStream('default', 'u'), T + HOUR);
  // Late: happened before the page view above, arrives after it.
  await pageView(userStream('default', 'u'), T + HOUR / 2, T + 2 * HOUR);
  await caughtUp();
  expect(storedRow('user:u')).toEqual(written);
  expect(new SegmentQueries(db).record('default', 'user:u')?.profile.lastSeen).toBe(T);
  expect(lastSeen('user:u')).toBe(T + HOUR);

  // Enough noted times for folds: each later page view of another person is a row.
  for (let i = 0; i < 8; i++) {
    await append(userStream('default', `v${i}`), 'Tracked', { event: 'Order Completed', properties: {} }, T + i);
    await caughtUp();
    await pageView(userStream('default', `v${i}`), T + 3 * HOUR + i);
    await caughtUp();
  }
  await pageView(userStream('default', 'u'), T + 4 * HOUR);
  await caughtUp();
  const count = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  expect(count('segment_last_seen')).toBeGreaterThan(0);
  expect(count('segment_seen')).toBeLessThan(3);
  expect(storedRow('user:u')).toEqual(written);
  expect(lastSeen('user:u')).toBe(T + 4 * HOUR);
  for (let i = 0; i < 8; i++) expect(lastSeen(`user:v${i}`)).toBe(T + 3 * HOUR + i);

  // After a restart (the noted times not yet folded are read back) a merge carries them along.
  await runner.stop();
  start(3);
  await pageView(anonymousStream('default', 'x'), T + 6 * HOUR);
  await append(userStream('default', 'u'), 'Tracked', { event: 'Order Completed', properties: {} }, T + 5 * HOUR);
  await pageView(anonymousStream('default', 'x'), T + 7 * HOUR);
  await caughtUp();
  expect(lastSeen('anon:x')).toBe(T + 7 * HOUR);
  await append(userStream('default', 'u'), 'IdentityLinked', { key: 'anon:x', userId: 'u' }, T + 7 * HOUR);
  await caughtUp();
  expect(lastSeen('anon:x')).toBeUndefined();
  expect(lastSeen('user:u')).toBe(T + 7 * HOUR);
});

it('a merge takes the earlier identity\'s last seen noted in the same batch, not yet committed', async () => {
  start(1000);
  await append(userStream('default', 'w'), 'Identified', { traits: { plan: 'pro' } }, T);
  await pageView(anonymousStream('default', 'y'), T + HOUR);
  await caughtUp();
  await runner.stop();
  // Appended while the runner is stopped, so it takes them in one batch.
  await pageView(anonymousStream('default', 'y'), T + 3 * HOUR);
  await append(userStream('default', 'w'), 'IdentityLinked', { key: 'anon:y', userId: 'w' }, T + 2 * HOUR);
  start(1000);
  await caughtUp();
  expect(lastSeen('user:w')).toBe(T + 3 * HOUR);
});
