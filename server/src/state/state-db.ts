/**
 * The embedded state database: projection tables and their checkpoints, in SQLite next to the log.
 * Everything in it can be dropped and rebuilt from the log, so it runs with synchronous=NORMAL:
 * a crash can lose the last transactions, and the checkpoint (written in the same transaction as
 * the state) makes the runner replay exactly those.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type StateDb = Database.Database;

export function openStateDb(path: string): StateDb {
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
  return db;
}

export function readCheckpoint(db: StateDb, name: string): number {
  const row = db.prepare<[string], { position: number }>('SELECT position FROM checkpoints WHERE name = ?').get(name);
  return row?.position ?? 0;
}

const checkpointWriters = new WeakMap<StateDb, Database.Statement<[string, number]>>();

export function writeCheckpoint(db: StateDb, name: string, position: number): void {
  let writer = checkpointWriters.get(db);
  if (!writer) {
    writer = db.prepare<[string, number]>(
      'INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET position = excluded.position',
    );
    checkpointWriters.set(db, writer);
  }
  writer.run(name, position);
}
