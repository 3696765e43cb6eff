/**
 * Two stores of one process sharing one writer thread (`attachWriter` / `writerPort`), as the main
 * thread and the scenario engine's thread do: their appends join the same group commits, revisions
 * and ids are checked across both, and each learns of the other's commits at once, without polling.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WrongExpectedRevisionError } from '../errors';
import { newEvent, waitFor } from '../event-store.contract';
import type { RecordedEvent } from '../event-store.port';
import { SqliteEventStore } from './sqlite-event-store';

let dir: string;
let main: SqliteEventStore;
let other: SqliteEventStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'herald-writer-port-'));
  main = new SqliteEventStore({ path: join(dir, 'events.sqlite') });
  other = new SqliteEventStore({ path: join(dir, 'events.sqlite'), writerPort: main.attachWriter() });
});
afterEach(async () => {
  await other.close();
  await main.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Follows a store's subscription into `seen` until stopped. */
function follow(store: SqliteEventStore, seen: RecordedEvent[]) {
  const subscription = store.subscribeToAll();
  const reading = (async () => {
    for await (const event of subscription) seen.push(event);
  })();
  return async () => {
    await subscription.stop();
    await reading;
  };
}

it("wakes each store's subscribers on the other's commits, in position order, with none missed", async () => {
  const seenByMain: RecordedEvent[] = [];
  const seenByOther: RecordedEvent[] = [];
  const stops = [follow(main, seenByMain), follow(other, seenByOther)];
  const appends: Array<Promise<unknown>> = [];
  for (let round = 0; round < 20; round += 1) {
    appends.push(main.append(`user-${round % 3}`, [newEvent('Tracked', { round })]));
    appends.push(other.append(`user-${round % 3}`, [newEvent('Decided', { round }), newEvent('Decided', { round })]));
    if (round % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 3));
  }
  await Promise.all(appends);
  // The last append is the other store's: only the writer's notice can wake the main store for it
  // (a store on the writer's own thread does not poll).
  await other.append('user-0', [newEvent('Decided', { round: 20 })]);
  await waitFor(() => seenByMain.length === 61 && seenByOther.length === 61, 5000);
  for (const stop of stops) await stop();
  for (const seen of [seenByMain, seenByOther]) {
    expect(seen.map((event) => event.position)).toEqual(Array.from({ length: 61 }, (_, i) => i + 1));
    for (const stream of ['user-0', 'user-1', 'user-2']) {
      const revisions = seen.filter((event) => event.stream === stream).map((event) => event.revision);
      expect(revisions).toEqual(revisions.map((_, i) => i));
    }
  }
});

it("checks expected revisions against the other store's appends", async () => {
  await main.append('user-1', [newEvent('Tracked')]);
  // The main store wrote revision 0 itself; a store trusting only its own appends would answer "nothing after it".
  await other.append('user-1', [newEvent('Decided')], { expectedRevision: 0 });
  expect((await main.readStream('user-1', { fromRevision: 1 })).map((event) => event.type)).toEqual(['Decided']);
  await expect(main.append('user-1', [newEvent('Tracked')], { expectedRevision: 0 })).rejects.toBeInstanceOf(WrongExpectedRevisionError);
  await expect(other.append('user-1', [newEvent('Decided')], { expectedRevision: 'no_stream' })).rejects.toBeInstanceOf(WrongExpectedRevisionError);
});

it('stores an event id once, whichever store appends it', async () => {
  const event = newEvent('Tracked');
  await main.append('user-1', [event]);
  const again = await other.append('user-1', [event]);
  expect(again.appended).toBe(0);
  expect(await main.readStream('user-1')).toHaveLength(1);
});

it('joins the group commits of the writer thread', async () => {
  const before = main.stats.commits + other.stats.commits;
  await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? main : other).append(`user-${i}`, [newEvent('Tracked')])));
  // 50 appends from two stores in the same moment: far fewer transactions than appends.
  expect(main.stats.commits + other.stats.commits - before).toBeLessThan(25);
});

it('refuses appends once the writer has closed, and keeps what was acknowledged', async () => {
  await other.append('user-1', [newEvent('Decided')]);
  await main.close();
  await expect(other.append('user-1', [newEvent('Decided')])).rejects.toThrow(/writer/);
  const reopened = new SqliteEventStore({ path: join(dir, 'events.sqlite') });
  expect(await reopened.readStream('user-1')).toHaveLength(1);
  await reopened.close();
  main = new SqliteEventStore({ path: join(dir, 'events.sqlite') });
});
