// @ts-check
/**
 * The event log's writer thread: owns the only writing connection and commits the batches the
 * store posts, in the order they arrive, those posted while a commit ran together in the next one.
 * Each reply names the batches of one transaction and carries the outcome of every append of each,
 * or the storage error that rolled the whole transaction back.
 */
'use strict';
const { parentPort, receiveMessageOnPort, workerData } = require('node:worker_threads');
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
/** @type {number} */
const maxBatchEvents = workerData.maxBatchEvents ?? 10_000;

/**
 * Batches posted and not committed yet. The store posts each batch as soon as it has one, also
 * while a commit runs; everything posted meanwhile goes into the next transaction, which starts as
 * soon as the last one ends, without a trip to the store's thread and back in between (that trip
 * waits for the store's event loop: 26% of the writer's time in bench:segments (a) at 2k/s).
 * @type {Array<{ seq: number; batch: any[]; recordedAt: number }>}
 */
const queue = [];
let closing = false;

/** Takes every message already posted, without waiting. */
function drain() {
  for (let next = receiveMessageOnPort(port); next; next = receiveMessageOnPort(port)) take(next.message);
}

/** @param {any} message */
function take(message) {
  if (message.autocheckpoint) {
    // The checkpointer thread failed: checkpoint on commit again.
    db.pragma('wal_autocheckpoint = 1000');
  } else if (message.close) {
    closing = true;
  } else {
    queue.push(message);
  }
}

/** Commits what is queued, as one transaction per at most `maxBatchEvents` events, until nothing is. */
function commitQueued() {
  for (drain(); queue.length > 0; drain()) {
    // At least one batch; more while they stay within maxBatchEvents together.
    let taken = 1;
    let events = countEvents(queue[0].batch);
    while (taken < queue.length && events + countEvents(queue[taken].batch) <= maxBatchEvents) {
      events += countEvents(queue[taken].batch);
      taken += 1;
    }
    const group = queue.splice(0, taken);
    const seqs = group.map((message) => message.seq);
    const started = performance.now();
    try {
      const outcomes = writer.commitBatches(group);
      port.postMessage({ seqs, outcomes, startedAt: performance.timeOrigin + started, writerMs: performance.now() - started });
    } catch (error) {
      const failure = error instanceof Error ? { name: error.name, message: error.message, code: /** @type {any} */ (error).code } : { message: String(error) };
      port.postMessage({ seqs, failure, startedAt: performance.timeOrigin + started, writerMs: performance.now() - started });
    }
  }
}

/** @param {any[]} batch */
function countEvents(batch) {
  let n = 0;
  for (const request of batch) n += request.events.length;
  return n;
}

port.on('message', (message) => {
  take(message);
  commitQueued();
  if (closing) {
    db.close();
    port.close();
  }
});
