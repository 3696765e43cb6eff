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
const writer = createWriter(db);

if (!parentPort) throw new Error('sqlite-writer.worker.js runs as a worker thread');
const port = parentPort;
port.on('message', (message) => {
  if (message.close) {
    db.close();
    port.close();
    return;
  }
  try {
    const outcomes = writer.commit(message.batch, message.recordedAt);
    port.postMessage({ seq: message.seq, outcomes });
  } catch (error) {
    const failure = error instanceof Error ? { name: error.name, message: error.message, code: /** @type {any} */ (error).code } : { message: String(error) };
    port.postMessage({ seq: message.seq, failure });
  }
});
