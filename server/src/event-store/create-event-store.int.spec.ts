import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEventStore } from './create-event-store';
import { KurrentDbEventStore } from './kurrentdb/kurrentdb-event-store';
import { SqliteEventStore } from './sqlite/sqlite-event-store';

let dataDir: string;
beforeEach(() => (dataDir = mkdtempSync(join(tmpdir(), 'herald-create-store-'))));
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

describe('createEventStore', () => {
  it('opens the embedded SQLite log in DATA_DIR/events.sqlite, in WAL mode, when EVENTSTORE_URL is not set', async () => {
    const store = createEventStore({ dataDir });
    expect(store).toBeInstanceOf(SqliteEventStore);
    await store.append('user-default:1', [
      { id: '0193a4f2-7c1e-7d3a-9f1b-2c4d5e6f7a8b', type: 'Kept', data: {}, metadata: { workspace: 'default', occurredAt: '2026-03-01T10:00:00.000Z', receivedAt: '2026-03-01T10:00:00.000Z', schemaVersion: 1 } },
    ]);
    await store.close();
    expect(existsSync(join(dataDir, 'events.sqlite'))).toBe(true);
    // WAL is recorded in the file itself, so another connection sees the mode the log was written in.
    const reader = new Database(join(dataDir, 'events.sqlite'), { readonly: true });
    expect(reader.pragma('journal_mode', { simple: true })).toBe('wal');
    reader.close();
  });

  it('uses the KurrentDB adapter when EVENTSTORE_URL is set, without connecting to open it', async () => {
    const store = createEventStore({ dataDir, eventStoreUrl: 'kurrentdb://127.0.0.1:1?tls=false' });
    expect(store).toBeInstanceOf(KurrentDbEventStore);
    await store.close();
    expect(existsSync(join(dataDir, 'events.sqlite'))).toBe(false);
  });

  it('refuses to open a read-only log that is not there, naming the path', () => {
    expect(() => createEventStore({ dataDir }, { readonly: true })).toThrow(join(dataDir, 'events.sqlite'));
  });
});
