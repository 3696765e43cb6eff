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
  const timers = new DueTimers(
    store,
    clock,
    'test',
    (now, limit) => index.filter((timer) => timer.dueAt <= now).slice(0, limit),
    () => index[0]?.dueAt,
    () => ({ data: {} }),
  );

  expect(await timers.fireDue()).toBe(2500);
  // Already in flight: a second round appends nothing.
  expect(await timers.fireDue()).toBe(0);
  const fired = (await store.readAll()).filter((event) => event.type === 'TimerFired');
  expect(fired).toHaveLength(2500);
  expect(new Set(fired.map((event) => event.id)).size).toBe(2500);
  expect((await store.readStream(personStream('w', 'user:p7'))).length).toBe(50);
});

describe('started: each timer fires when it falls due, without polling the index', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  /** An index of timers in memory that counts the looks at it; `fired` removes a row, as its projection would. */
  function countingIndex(clock: TestClock) {
    const index: DueTimer[] = [];
    const looks = { due: 0 };
    const timers = new DueTimers(
      store,
      clock,
      'test',
      (now, limit) => {
        looks.due += 1;
        return index.filter((timer) => timer.dueAt <= now).slice(0, limit);
      },
      () => (index.length > 0 ? Math.min(...index.map((timer) => timer.dueAt)) : undefined),
      () => ({ data: {} }),
    );
    return { index, looks, timers };
  }
  const firedCount = async () => (await store.readAll()).filter((event) => event.type === 'TimerFired').length;
  const until = async (condition: () => Promise<boolean>) => {
    for (let i = 0; i < 500 && !(await condition()); i++) await sleep(10);
    expect(await condition()).toBe(true);
  };

  it('an empty index is looked at once a second at most, not every few milliseconds', async () => {
    const { looks, timers } = countingIndex(new TestClock());
    timers.start(10);
    await sleep(500);
    await timers.stop();
    // Once at the start (nothing due, so no look at the rows), and at most once after a sleep.
    expect(looks.due).toBeLessThanOrEqual(1);
  });

  it('a row written due now fires once its projection says the index changed, and one due later when the clock gets there', async () => {
    const clock = new TestClock(new Date('2026-01-01T00:00:00Z'));
    const now = clock.now().getTime();
    const { index, timers } = countingIndex(clock);
    timers.start(10);
    index.push({ key: 'now', workspace: 'w', person: 'user:a', dueAt: now });
    timers.indexChanged();
    await until(async () => (await firedCount()) === 1);
    index.splice(0, 1);
    timers.indexChanged();

    index.push({ key: 'in-an-hour', workspace: 'w', person: 'user:a', dueAt: now + 3_600_000 });
    timers.indexChanged();
    await sleep(50);
    expect(await firedCount()).toBe(1);
    // The test clock jumps: the timers look again at once (a system clock is waited for with a timer).
    clock.advance(3_600_000);
    await until(async () => (await firedCount()) === 2);
    await timers.stop();
  });

  it('rows fired and not yet moved by their projection are looked at every inFlightRetryMs, not in a loop', async () => {
    const clock = new TestClock(new Date('2026-01-01T00:00:00Z'));
    const { index, looks, timers } = countingIndex(clock);
    index.push({ key: 'stuck', workspace: 'w', person: 'user:a', dueAt: clock.now().getTime() });
    timers.start(50);
    await until(async () => (await firedCount()) === 1);
    const before = looks.due;
    await sleep(300);
    await timers.stop();
    // About six looks in 300 ms at 50 ms each; a loop would have made thousands.
    expect(looks.due - before).toBeGreaterThanOrEqual(2);
    expect(looks.due - before).toBeLessThanOrEqual(12);
    expect(await firedCount()).toBe(1);
  });
});
