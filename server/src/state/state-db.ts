/**
 * The embedded state database: projection tables and their checkpoints, in SQLite next to the log.
 * Everything in it can be dropped and rebuilt from the log, so it runs with synchronous=NORMAL:
 * a crash can lose the last transactions, and the checkpoint (written in the same transaction as
 * the state) makes the runner replay exactly those.
 *
 * WAL checkpoints run on a worker thread with its own connection. SQLite would otherwise run one
 * inside whichever commit crosses 1,000 WAL pages, on the event loop: copying the pages back and
 * fsyncing the file stalled that commit for 20-200 ms (p99 of state commits 19-34 ms with it,
 * 7-9 ms without, measured under load), and with it every request and projection of the process.
 * A WAL past its limit is started over from its beginning (RESTART), the file kept: truncating it
 * made every commit after that extend the file again (the kernel allocating and zeroing its pages),
 * and with a million persons a commit writes ≈ 2 MB of pages (bench:segments (b): the 1M-user
 * runner's commits ≈ 30 µs an event instead of ≈ 41, its per-event cost 1.30 × the 10k one instead
 * of 1.60, measured alternately).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { startWalCheckpointer } from '../shared/wal-checkpointer';
import { prepared } from './prepared';

export type StateDb = Database.Database;

export interface StateDbOptions {
  /** How often the checkpointer thread copies the WAL back (ms); 0 leaves it to SQLite on commit. */
  checkpointIntervalMs?: number;
  /** A WAL holding more than this is started over from its beginning, waiting for a gap between commits. */
  maxWalBytes?: number;
}

export function openStateDb(path: string, options: StateDbOptions = {}): StateDb {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  // 64 MB of page cache instead of SQLite's 2 MB: with a million profiles the B-tree's inner pages
  // and the recently touched records stay in memory (bench:segments, 1M users).
  db.pragma('cache_size = -65536');
  // Reads map the file instead of copying pages through read(): a point read of a person record in
  // a state larger than the page cache costs about half as much (bench:segments, 1M users). SQLite
  // caps the mapping at 2 GB; beyond that it reads the rest as before. Writes still go through the WAL.
  db.pragma('mmap_size = 2147418112');
  db.exec(`CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL)`);
  const intervalMs = options.checkpointIntervalMs ?? 200;
  if (path !== ':memory:' && intervalMs > 0) checkpointInBackground(db, path, intervalMs, options.maxWalBytes ?? 64 * 1024 * 1024);
  return db;
}

/**
 * Moves WAL checkpoints to a worker thread. Closing the database stops the thread first and waits
 * (up to 2 s) until it has closed its connection, so nothing touches the files after `close()`.
 */
function checkpointInBackground(db: StateDb, path: string, intervalMs: number, maxWalBytes: number): void {
  const checkpointer = startWalCheckpointer(path, {
    intervalMs,
    maxWalBytes,
    limit: 'frames',
    // Without the thread, SQLite checkpoints on commit again.
    onFailure: () => {
      if (db.open) db.pragma('wal_autocheckpoint = 1000');
    },
  });
  db.pragma('wal_autocheckpoint = 0');
  const close = db.close.bind(db);
  db.close = () => {
    checkpointer.stop();
    return close();
  };
}

export function readCheckpoint(db: StateDb, name: string): number {
  const row = prepared<[string], { position: number }>(db, 'SELECT position FROM checkpoints WHERE name = ?').get(name);
  return row?.position ?? 0;
}

export function writeCheckpoint(db: StateDb, name: string, position: number): void {
  prepared<[string, number]>(db, 'INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET position = excluded.position').run(
    name,
    position,
  );
}
