/**
 * The embedded log shared by two writers (a main process and an ingestion node): each store has its
 * own connection and writer thread on one file, as two processes do, and each must see what the
 * other appended, in position order, with revisions and ids checked across both.
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
let node: SqliteEventStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'herald-shared-'));
  main = new SqliteEventStore({ path: join(dir, 'events.sqlite'), shared: true });
  node = new SqliteEventStore({ path: join(dir, 'events.sqlite'), shared: true });
});
afterEach(async () => {
  await main.close();
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

it("reads a stream's events appended by the other writer after its own", async () => {
  await main.append('user-1', [newEvent('SegmentEntered')]);
  await node.append('user-1', [newEvent('Tracked')]);
  // The main store wrote revision 0 itself; an exclusive store would answer "nothing after it".
  const after = await main.readStream('user-1', { fromRevision: 1 });
  expect(after.map((event) => [event.type, event.revision])).toEqual([['Tracked', 1]]);
});

it("follows both writers' appends live, in position order, with none missed", async () => {
  const seen: RecordedEvent[] = [];
  const subscription = main.subscribeToAll();
  const reading = (async () => {
    for await (const event of subscription) seen.push(event);
  })();
  const appends: Array<Promise<unknown>> = [];
  for (let round = 0; round < 20; round += 1) {
    appends.push(node.append(`user-${round % 3}`, [newEvent('Tracked', { round })]));
    appends.push(main.append(`user-${round % 3}`, [newEvent('Decided', { round }), newEvent('Decided', { round })]));
    if (round % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 3));
  }
  await Promise.all(appends);
  // The last append is the other writer's: nothing of this store's own follows to reveal it.
  await node.append('user-0', [newEvent('Tracked', { round: 20 })]);
  await waitFor(() => seen.length === 61, 5000);
  await subscription.stop();
  await reading;
  expect(seen.map((event) => event.position)).toEqual(Array.from({ length: 61 }, (_, i) => i + 1));
  expect(seen.filter((event) => event.type === 'Tracked')).toHaveLength(21);
  // Each stream's revisions run without a gap across both writers.
  for (const stream of ['user-0', 'user-1', 'user-2']) {
    const revisions = seen.filter((event) => event.stream === stream).map((event) => event.revision);
    expect(revisions).toEqual(revisions.map((_, i) => i));
  }
});

it("checks expected revisions and event ids against the other writer's appends", async () => {
  await main.append('user-1', [newEvent()], { expectedRevision: 'no_stream' });
  await node.append('user-1', [newEvent()], { expectedRevision: 0 });
  await expect(main.append('user-1', [newEvent()], { expectedRevision: 0 })).rejects.toBeInstanceOf(WrongExpectedRevisionError);
  const duplicate = newEvent('Tracked');
  await node.append('user-2', [duplicate]);
  const again = await main.append('user-2', [duplicate]);
  expect(again.appended).toBe(0);
  expect(await main.readStream('user-2')).toHaveLength(1);
});
