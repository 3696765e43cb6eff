/**
 * Due timers against the real SQLite log: every due timer fires, once, even when more than one
 * round's worth are still in flight (fired, not yet moved out of the index by their projection).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { personStream } from '@herald/projections';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { TestClock } from './clock';
import { type DueTimer, DueTimers } from './due-timers';

let dir: string;
let store: SqliteEventStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'herald-due-timers-'));
  store = new SqliteEventStore({ path: join(dir, 'events.sqlite') });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

it('fires timers beyond the first 1,000 while those are still in the index, and each one once', async () => {
  const clock = new TestClock(new Date('2026-01-01T00:00:00Z'));
  const start = clock.now().getTime();
  // An index nobody moves rows out of (as while the owning projection is behind): 2,500 timers due.
  const index: DueTimer[] = Array.from({ length: 2500 }, (_, i) => ({ key: `t${i}`, workspace: 'w', person: `user:p${i % 50}`, dueAt: start - 2500 + i }));
  const timers = new DueTimers(store, clock, 'test', (now, limit) => index.filter((timer) => timer.dueAt <= now).slice(0, limit), () => ({ data: {} }));

  expect(await timers.fireDue()).toBe(2500);
  // Already in flight: a second round appends nothing.
  expect(await timers.fireDue()).toBe(0);
  const fired = (await store.readAll()).filter((event) => event.type === 'TimerFired');
  expect(fired).toHaveLength(2500);
  expect(new Set(fired.map((event) => event.id)).size).toBe(2500);
  expect((await store.readStream(personStream('w', 'user:p7'))).length).toBe(50);
});
