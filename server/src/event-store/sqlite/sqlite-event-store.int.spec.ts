import { mkdtempSync, rmSync, statSync } from 'node:fs';
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
  it('commits on the writer thread while the event loop goes on; appends made meanwhile are committed after', async () => {
    const store = new SqliteEventStore({ path: tempFile() });
    const first = Promise.all(Array.from({ length: 50 }, (_, i) => store.append(`a-${i}`, [newEvent()])));
    // Let the first batch leave for the writer thread, then append more while it is on its way.
    await new Promise((resolve) => setImmediate(resolve));
    let turns = 0;
    const ticking = setInterval(() => (turns += 1), 0);
    const second = Promise.all(Array.from({ length: 50 }, (_, i) => store.append(`b-${i}`, [newEvent()])));
    const [a, b] = await Promise.all([first, second]);
    clearInterval(ticking);
    // Two batches; the thread commits them together when the second arrived before it began.
    expect(store.stats.commits).toBeLessThanOrEqual(2);
    expect(Math.max(...a.map((r) => r.position))).toBeLessThan(Math.min(...b.map((r) => r.position)));
    expect((await store.readAll()).length).toBe(100);
    expect(turns).toBeGreaterThan(0);
    await store.close();
  });

  it('commits the batches handed over during a commit together next, each append judged on its own', async () => {
    const store = new SqliteEventStore({ path: tempFile() });
    await store.append('s', [newEvent()]);
    // A large commit keeps the writer busy while twenty batches are handed over, one per turn.
    const large = store.append('large', Array.from({ length: 5000 }, () => newEvent('Large', { text: 'x'.repeat(1000) })));
    const small: Array<Promise<unknown>> = [];
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      small.push(i === 7 ? store.append('s', [newEvent()], { expectedRevision: 99 }) : store.append(`t-${i}`, [newEvent()]));
    }
    const settled = await Promise.allSettled([large, ...small]);
    expect(settled.map((r) => r.status)).toEqual(settled.map((_, i) => (i === 8 ? 'rejected' : 'fulfilled')));
    // The first append, the large one, and far fewer transactions than the twenty batches after it.
    expect(store.stats.commits).toBeLessThan(2 + 20);
    expect(store.stats.appends).toBe(1 + 1 + 20);
    const positions = settled.flatMap((r) => (r.status === 'fulfilled' ? [(r.value as { position: number }).position] : []));
    expect(positions).toEqual([...positions].sort((x, y) => x - y));
    expect(await store.readStream('s')).toHaveLength(1);
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
    // A store that did not append them names their streams from the log.
    expect((await second.readAll()).map((e) => e.stream)).toEqual(['s-1', 's-1']);
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

  it('writes only the new ids of an append to an existing stream, in order; known ids, also from the same commit, are no-ops', async () => {
    const store = new SqliteEventStore({ path: tempFile() });
    const [a, b, c, d, elsewhere] = [newEvent('A'), newEvent('B'), newEvent('C'), newEvent('D'), newEvent('X')];
    await store.append('s', [a]);
    const other = await store.append('t', [elsewhere]);
    // In one commit: new and known ids mixed (one stored in another stream), a replay of ids written
    // earlier in the same commit, and an append of known ids only.
    const [mixed, replay, known] = await Promise.all([
      store.append('s', [a, b, elsewhere, c]),
      store.append('s', [b, c]),
      store.append('s', [elsewhere]),
    ]);
    expect(store.stats.commits).toBe(3);
    expect(mixed).toEqual({ nextExpectedRevision: 2, position: other.position + 2, appended: 2 });
    expect(replay).toEqual({ nextExpectedRevision: 2, position: other.position + 2, appended: 0 });
    expect(known).toEqual({ nextExpectedRevision: 2, position: other.position, appended: 0 });
    const next = await store.append('s', [d, a]);
    expect(next).toEqual({ nextExpectedRevision: 3, position: other.position + 3, appended: 1 });
    const stream = await store.readStream('s');
    expect(stream.map((event) => [event.type, event.revision])).toEqual([['A', 0], ['B', 1], ['C', 2], ['D', 3]]);
    expect(stream.map((event) => event.position)).toEqual([1, other.position + 1, other.position + 2, other.position + 3]);
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

describe('SqliteEventStore WAL checkpoints', () => {
  const size = (file: string) => statSync(file).size;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /** About 8 MB of events in 400 commits, one after another. */
  async function fill(store: SqliteEventStore) {
    for (let i = 0; i < 400; i++) {
      await store.append(`s-${i % 20}`, Array.from({ length: 5 }, () => ({ ...newEvent('Filled'), data: { text: 'x'.repeat(4000) } })));
    }
  }

  it('leaves checkpoints to its own thread: no commit copies the WAL back into the file', async () => {
    const path = tempFile();
    const store = new SqliteEventStore({ path, checkpointIntervalMs: 60_000 });
    await fill(store);
    // SQLite's default would have checkpointed inside the commits that crossed 1,000 WAL pages.
    expect(size(path)).toBeLessThan(1_000_000);
    expect(size(`${path}-wal`)).toBeGreaterThan(7_000_000);
    await store.close();
  });

  it('copies the WAL back on its thread while appends go on', async () => {
    const path = tempFile();
    const store = new SqliteEventStore({ path, checkpointIntervalMs: 20 });
    await fill(store);
    const deadline = Date.now() + 10_000;
    while (size(path) < 7_000_000 && Date.now() < deadline) await pause(20);
    expect(size(path)).toBeGreaterThan(7_000_000);
    await store.close();
  });

  it('starts a WAL past its limit over between commits, and no append fails meanwhile', async () => {
    const path = tempFile();
    const store = new SqliteEventStore({ path, checkpointIntervalMs: 10, maxWalBytes: 256_000 });
    // Every append is awaited, so a failure (SQLITE_BUSY while the checkpointer holds the write lock) would throw here.
    await fill(store);
    // Written over from its start after each restart, the file stays far below the 8 MB it would hold
    // without (how far depends on how fast this machine commits between two passes).
    expect(size(`${path}-wal`)).toBeLessThan(6_000_000);
    expect((await store.readAll()).length).toBe(2000);
    await store.close();
    const again = new SqliteEventStore({ path });
    expect((await again.readAll()).length).toBe(2000);
    await again.close();
  });
});
