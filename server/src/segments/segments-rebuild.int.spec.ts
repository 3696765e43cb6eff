/**
 * The live runner, crashing at random (after an append but before its checkpoint, and by
 * restarting), must end in exactly the state a rebuild from the log produces, and must never have
 * appended a membership decision twice.
 */
import { anonymousStream, userStream } from '@herald/projections';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventStore, NewEvent } from '../event-store/event-store.port';
import { crashingStore } from '../test-support/crashing-store';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { identityProjection } from '../identity/identity.projection';
import { ProjectionRunner } from '../projection-runner/projection-runner';
import { TestClock } from '../shared/clock';
import { uuidv7 } from '../shared/ids';
import { openStateDb, type StateDb } from '../state/state-db';
import { SEGMENT_TABLES } from './segment-state';
import { SegmentCatalog } from './segment-catalog';
import { SegmentTimers } from './segment-timers';
import { SEGMENTS_PROJECTION, SegmentsProjection } from './segments.projection';

const HOUR = 3_600_000;

/** sfc32: a small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed, b = 0x9e3779b9, c = 0x243f6a88, d = 0xb7e15162;
  return () => {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}


function dump(db: StateDb): Record<string, unknown[]> {
  const tables: Record<string, unknown[]> = {};
  for (const table of [...SEGMENT_TABLES, 'identity_links']) tables[table] = db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2, 3`).all();
  return tables;
}

async function caughtUp(runner: ProjectionRunner, store: EventStore, names: string[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const head = await store.headPosition();
    if (names.every((name) => runner.checkpoint(name) >= head)) return;
    if (Date.now() > deadline) throw new Error(`Projections did not catch up with ${head}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'herald-rebuild-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it.each([1, 2, 3])('live runner with random crashes equals a rebuild from scratch (seed %i)', async (seed) => {
  const next = random(seed);
  const store = new SqliteEventStore({ path: join(dir, 'events.sqlite') });
  const clock = new TestClock(new Date('2026-01-01T00:00:00Z'));
  const live = openStateDb(join(dir, 'live.sqlite'));
  const flaky = crashingStore(store, () => next() < 0.15);
  const catalog = new SegmentCatalog(store, clock);
  const names = [identityProjection.name, SEGMENTS_PROJECTION];

  let runner: ProjectionRunner | undefined;
  const startRunner = () => {
    runner = new ProjectionRunner(flaky, live, { retryDelayMs: 1 });
    runner.start(identityProjection);
    runner.start(new SegmentsProjection(live, flaky));
  };
  startRunner();

  const users = Array.from({ length: 12 }, (_, i) => `u${i}`);
  const append = (stream: string, type: string, data: unknown) => {
    const now = clock.now().toISOString();
    const event: NewEvent = { id: uuidv7(), type, data, metadata: { workspace: 'default', occurredAt: now, receivedAt: now, schemaVersion: 1 } };
    return store.append(stream, [event]);
  };
  const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)];

  for (let step = 0; step < 400; step++) {
    clock.advance(Math.floor(next() * 30 * HOUR));
    const roll = next();
    const user = pick(users);
    if (step === 20) await catalog.define('default', { id: 'viewers', name: 'Viewed shoes twice this week', where: { performed: 'Product Viewed', where: [{ property: 'category', op: 'eq', value: 'shoes' }], count: { gte: 2 }, within: '7d' } });
    else if (step === 150) await catalog.define('default', { id: 'pro', name: 'Pro', where: { trait: 'plan', op: 'eq', value: 'pro' } });
    else if (step === 250) await catalog.define('default', { id: 'lapsed-pro', name: 'Pro without an order for 3 days', where: { all: [{ segment: 'pro' }, { not: { performed: 'Order Completed', within: '3d' } }] } });
    else if (step === 330) await catalog.delete('default', 'viewers');
    else if (roll < 0.4) await append(userStream('default', user), 'Tracked', { event: 'Product Viewed', properties: { category: pick(['shoes', 'hats']) } });
    else if (roll < 0.55) await append(userStream('default', user), 'Tracked', { event: 'Order Completed', properties: {} });
    else if (roll < 0.7) await append(userStream('default', user), 'Identified', { traits: { plan: pick(['pro', 'free']) } });
    else if (roll < 0.85) {
      const anonymousId = `a${Math.floor(next() * 20)}`;
      await append(anonymousStream('default', anonymousId), 'Tracked', { event: 'Product Viewed', properties: { category: 'shoes' } });
      if (next() < 0.3) await append(userStream('default', user), 'IdentityLinked', { key: `anon:${anonymousId}`, userId: user });
    } else if (roll < 0.95) {
      await caughtUp(runner!, store, names);
      await new SegmentTimers(live, store, clock).fireDue();
    } else {
      // A restart: a new runner and fresh in-memory state resume from the committed checkpoints.
      await runner!.stop();
      startRunner();
    }
  }
  await caughtUp(runner!, store, names);
  await new SegmentTimers(live, store, clock).fireDue();
  await caughtUp(runner!, store, names);
  await runner!.stop();

  const rebuilt = openStateDb(join(dir, 'rebuilt.sqlite'));
  const rebuilder = new ProjectionRunner(store, rebuilt);
  // Both in one pass over the log, as `herald projections rebuild` does (segments without building
  // decision events, which a rebuild throws away). Small pages and commits, so state crosses
  // several commits as in a rebuild of a large log.
  await rebuilder.rebuildAll([identityProjection, new SegmentsProjection(rebuilt, store, false)], undefined, { pageSize: 7, commitEvery: 30 });

  const liveState = dump(live);
  expect(liveState.segment_members.length).toBeGreaterThan(0);
  expect(dump(rebuilt)).toEqual(liveState);

  // Every decision is in the log once: per person and segment, entries and exits alternate.
  const decisions = (await store.readAll({ filter: { eventTypes: ['SegmentEntered', 'SegmentExited'] } })).map((e) => ({
    key: `${(e.data as { person: string }).person}|${(e.data as { segmentId: string }).segmentId}`,
    entered: e.type === 'SegmentEntered',
  }));
  expect(decisions.length).toBeGreaterThan(10);
  const last = new Map<string, boolean>();
  for (const decision of decisions) {
    expect({ key: decision.key, repeated: last.get(decision.key) === decision.entered }).toEqual({ key: decision.key, repeated: false });
    last.set(decision.key, decision.entered);
  }
  live.close();
  rebuilt.close();
  await store.close();
});
