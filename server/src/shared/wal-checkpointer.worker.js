// @ts-check
/**
 * Checkpoints an SQLite database's WAL from its own connection, so the thread that commits never
 * runs a checkpoint inside a commit (see `wal-checkpointer.ts`). PASSIVE copies what no reader still
 * needs and never blocks the writer; when commits keep coming it may never copy the last frames, and
 * SQLite only starts the WAL over once every frame is copied, so a WAL past its limit gets a blocking
 * checkpoint: TRUNCATE (`limit: 'file'`: the file's size is measured, and the file shrinks) or RESTART
 * (`limit: 'frames'`: the frames in use are measured, and the file is kept and written over from its
 * start, so a commit's fsync does not also have to record a file that grows). That one blocks the
 * writer while it runs; as PASSIVE passes have copied all but the last `intervalMs` of frames, it is
 * short, and it gives up after 100 ms without a gap.
 *
 * Closing: the owner sets `control[0]` and waits (Atomics) until this thread sets `control[1]`,
 * having closed its connection, so nothing of the database is opened or written after the owner's
 * `close()` returns (a caller may delete the folder next).
 */
'use strict';
const { statSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const Database = require('better-sqlite3');

if (!parentPort) throw new Error('wal-checkpointer.worker.js runs as a worker thread');
const port = parentPort;
/** @type {{ path: string, intervalMs: number, maxWalBytes: number, limit: 'file' | 'frames', control: Int32Array }} */
const { path, intervalMs, maxWalBytes, limit, control } = workerData;

/** @type {import('better-sqlite3').Database | undefined} */
let db;
/** @type {NodeJS.Timeout | undefined} */
let timer;
let pageSize = 4096;

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

/** One pass: PASSIVE, or the blocking checkpoint once the WAL is past its limit. */
function checkpoint() {
  if (!db) return;
  if (limit === 'file') {
    db.pragma(walBytes() > maxWalBytes ? 'wal_checkpoint(TRUNCATE)' : 'wal_checkpoint(PASSIVE)');
    return;
  }
  const [result] = /** @type {Array<{ busy: number, log: number, checkpointed: number }>} */ (db.pragma('wal_checkpoint(PASSIVE)'));
  if (result && result.log * pageSize > maxWalBytes) db.pragma('wal_checkpoint(RESTART)');
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
    pageSize = Number(db.pragma('page_size', { simple: true }));
  } catch {
    finish();
  }
  if (db?.open) {
    timer = setInterval(() => {
      if (Atomics.load(control, 0) === 1) return finish();
      try {
        checkpoint();
      } catch {
        // SQLITE_BUSY (no gap between commits within the timeout): try again next time.
      }
    }, intervalMs);
    port.on('message', () => finish());
  }
}
