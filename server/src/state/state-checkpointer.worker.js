// @ts-check
/**
 * Checkpoints the state database's WAL from its own connection, so the server's event loop never
 * waits for it (see `state-db.ts`). PASSIVE copies what no reader still needs and never blocks the
 * writer; when commits keep coming it may never copy the last frames, and SQLite only starts the
 * WAL over once every frame is copied, so a WAL that grew past `maxWalBytes` gets a TRUNCATE
 * checkpoint, which waits for a gap between commits (the writer waits for it, briefly).
 */
'use strict';
const { statSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const Database = require('better-sqlite3');

if (!parentPort) throw new Error('state-checkpointer.worker.js runs as a worker thread');
const port = parentPort;
const { path, intervalMs, maxWalBytes } = workerData;
const db = new Database(path, { timeout: 1000 });
db.pragma('synchronous = NORMAL');
// This connection only checkpoints when told to.
db.pragma('wal_autocheckpoint = 0');

function walBytes() {
  try {
    return statSync(`${path}-wal`).size;
  } catch {
    return 0;
  }
}

const timer = setInterval(() => {
  try {
    db.pragma(walBytes() > maxWalBytes ? 'wal_checkpoint(TRUNCATE)' : 'wal_checkpoint(PASSIVE)');
  } catch {
    // SQLITE_BUSY (the writer held on longer than the timeout): try again next time.
  }
}, intervalMs);

port.on('message', (message) => {
  if (!message.close) return;
  clearInterval(timer);
  db.close();
  port.close();
});
