import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventStoreContract, newEvent, waitFor } from '../event-store.contract';
import type { EventStore, RecordedEvent } from '../event-store.port';
import { SqliteEventStore } from './sqlite-event-store';

const dirs: string[] = [];
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'herald-sqlite-'));
  dirs.push(dir);
  return join(dir, 'events.sqlite');
}
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe('SqliteEventStore contract', () => {
  eventStoreContract(
    async () => new SqliteEventStore({ path: tempFile() }),
    (store: EventStore) => store.close(),
  );
});

describe('SqliteEventStore contract, committing in-process (no writer thread)', () => {
  eventStoreContract(
    async () => new SqliteEventStore({ path: tempFile(), writerThread: false }),
    (store: EventStore) => store.close(),
  );
});

describe('SqliteEventStore durability and group commit', () => {
  it('commits on the writer thread while the event loop goes on; appends made meanwhile form the next commit', async () => {
    const store = new SqliteEventStore({ path: tempFile() });
    const first = Promise.all(Array.from({ length: 50 }, (_, i) => store.append(`a-${i}`, [newEvent()])));
    // Let the first commit leave for the writer thread, then append more while it is on its way.
    await new Promise((resolve) => setImmediate(resolve));
    let turns = 0;
    const ticking = setInterval(() => (turns += 1), 0);
    const second = Promise.all(Array.from({ length: 50 }, (_, i) => store.append(`b-${i}`, [newEvent()])));
    const [a, b] = await Promise.all([first, second]);
    clearInterval(ticking);
    expect(store.stats.commits).toBe(2);
    expect(Math.max(...a.map((r) => r.position))).toBeLessThan(Math.min(...b.map((r) => r.position)));
    expect((await store.readAll()).length).toBe(100);
    expect(turns).toBeGreaterThan(0);
    await store.close();
  });


  it('keeps acknowledged appends across a reopen, and event ids stay unique', async () => {
    const path = tempFile();
    const first = new SqliteEventStore({ path });
    const event = newEvent('Kept');
    await first.append('s-1', [event, newEvent('Kept')]);
    await first.close();
    const second = new SqliteEventStore({ path });
    expect((await second.readStream('s-1')).map((e) => e.id)[0]).toBe(event.id);
    const replay = await second.append('s-1', [event], { expectedRevision: 'no_stream' });
    expect(replay.appended).toBe(0);
    await second.close();
  });

  it('commits appends waiting in the same turn of the event loop in one transaction', async () => {
    const store = new SqliteEventStore({ path: tempFile() });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append(`s-${i}`, [newEvent()])));
    expect(store.stats.commits).toBe(1);
    expect(store.stats.appends).toBe(200);
    expect(new Set(results.map((r) => r.position)).size).toBe(200);
    await store.close();
  });

  it('fails only the appends whose expectation does not hold within a group commit', async () => {
    const store = new SqliteEventStore({ path: tempFile() });
    await store.append('s', [newEvent()]);
    const [good, bad] = await Promise.allSettled([
      store.append('s', [newEvent()], { expectedRevision: 0 }),
      store.append('t', [newEvent()], { expectedRevision: 3 }),
    ]);
    expect(good.status).toBe('fulfilled');
    expect(bad.status).toBe('rejected');
    expect(await store.readStream('t')).toEqual([]);
    await store.close();
  });

  it('lets a read-only reader in another connection follow the writer live', async () => {
    const path = tempFile();
    const writer = new SqliteEventStore({ path });
    await writer.append('s', [newEvent('Early')]);
    const reader = new SqliteEventStore({ path, readonly: true, pollIntervalMs: 20 });
    const received: RecordedEvent[] = [];
    const subscription = reader.subscribeToAll();
    const done = (async () => {
      for await (const event of subscription) received.push(event);
    })();
    await writer.append('s', [newEvent('Late')]);
    await waitFor(() => received.length === 2);
    await subscription.stop();
    await done;
    expect(received.map((e) => e.type)).toEqual(['Early', 'Late']);
    await reader.close();
    await writer.close();
  });
});
