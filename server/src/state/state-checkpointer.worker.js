// @ts-check
/**
 * Checkpoints the state database's WAL from its own connection, so the server's event loop never
 * waits for it (see `state-db.ts`). PASSIVE copies what no reader still needs and never blocks the
 * writer; when commits keep coming it may never copy the last frames, and SQLite only starts the
 * WAL over once every frame is copied, so a WAL that grew past `maxWalBytes` gets a TRUNCATE
 * checkpoint. That one blocks the writer while it runs; as PASSIVE passes have copied all but the
 * last `intervalMs` of frames, it is short, and it gives up after 100 ms without a gap.
 *
 * Closing: the owner sets `control[0]` and waits (Atomics) until this thread sets `control[1]`,
 * having closed its connection, so nothing of the database is opened or written after the owner's
 * `close()` returns (a caller may delete the folder next).
 */
'use strict';
const { statSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const Database = require('better-sqlite3');

if (!parentPort) throw new Error('state-checkpointer.worker.js runs as a worker thread');
const port = parentPort;
/** @type {{ path: string, intervalMs: number, maxWalBytes: number, control: Int32Array }} */
const { path, intervalMs, maxWalBytes, control } = workerData;

/** @type {import('better-sqlite3').Database | undefined} */
let db;
/** @type {NodeJS.Timeout | undefined} */
let timer;

function finish() {
  if (timer) clearInterval(timer);
  try {
    db?.close();
  } finally {
    Atomics.store(control, 1, 1);
    Atomics.notify(control, 1);
    port.close();
  }
}

function walBytes() {
  try {
    return statSync(`${path}-wal`).size;
  } catch {
    return 0;
  }
}

if (Atomics.load(control, 0) === 1) {
  finish();
} else {
  try {
    // The owner created the file; if it is gone, there is nothing to checkpoint.
    db = new Database(path, { fileMustExist: true, timeout: 100 });
    db.pragma('synchronous = NORMAL');
    // This connection only checkpoints when told to.
    db.pragma('wal_autocheckpoint = 0');
  } catch {
    finish();
  }
  if (db?.open) {
    timer = setInterval(() => {
      if (Atomics.load(control, 0) === 1) return finish();
      try {
        db?.pragma(walBytes() > maxWalBytes ? 'wal_checkpoint(TRUNCATE)' : 'wal_checkpoint(PASSIVE)');
      } catch {
        // SQLITE_BUSY (no gap between commits within the timeout): try again next time.
      }
    }, intervalMs);
    port.on('message', () => finish());
  }
}
