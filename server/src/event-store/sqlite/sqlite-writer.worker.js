// @ts-check
/**
 * The event log's writer thread: owns the only writing connection and commits the batches the
 * store posts, one at a time, in the order they arrive. Each reply carries the outcome of every
 * append of the batch, or the storage error that rolled the whole batch back.
 */
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require('better-sqlite3');
const { createWriter } = require('./sqlite-writer');

const db = new Database(workerData.path);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('cache_size = -65536');
// With a checkpointer thread (the store's default), no commit runs a checkpoint.
if (!workerData.autocheckpoint) db.pragma('wal_autocheckpoint = 0');
const writer = createWriter(db);

if (!parentPort) throw new Error('sqlite-writer.worker.js runs as a worker thread');
const port = parentPort;
port.on('message', (message) => {
  if (message.autocheckpoint) {
    // The checkpointer thread failed: checkpoint on commit again.
    db.pragma('wal_autocheckpoint = 1000');
    return;
  }
  if (message.close) {
    db.close();
    port.close();
    return;
  }
  const started = performance.now();
  try {
    const outcomes = writer.commit(message.batch, message.recordedAt);
    port.postMessage({ seq: message.seq, outcomes, writerMs: performance.now() - started });
  } catch (error) {
    const failure = error instanceof Error ? { name: error.name, message: error.message, code: /** @type {any} */ (error).code } : { message: String(error) };
    port.postMessage({ seq: message.seq, failure, writerMs: performance.now() - started });
  }
});
