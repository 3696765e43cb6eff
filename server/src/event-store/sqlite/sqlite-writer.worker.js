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
/** @typedef {import('node:worker_threads').MessagePort} Port */
/**
 * Where batches come from: the store that started the thread, and stores on other threads of the
 * process given a port of their own (`attach`), so that their appends join the same group commits
 * instead of contending for SQLite's write lock. Each commit is answered on the port that asked.
 * @type {Port[]}
 */
const ports = [parentPort];
/** @type {number} */
const maxBatchEvents = workerData.maxBatchEvents ?? 10_000;

/**
 * Batches posted and not committed yet. The store posts each batch as soon as it has one, also
 * while a commit runs; everything posted meanwhile goes into the next transaction, which starts as
 * soon as the last one ends, without a trip to the store's thread and back in between (that trip
 * waits for the store's event loop: 26% of the writer's time in bench:segments (a) at 2k/s).
 * @type {Array<{ seq: number; batch: any[]; recordedAt: number; from: Port }>}
 */
const queue = [];
let closing = false;

/** Takes every message already posted, without waiting. */
function drain() {
  for (const port of ports) {
    for (let next = receiveMessageOnPort(port); next; next = receiveMessageOnPort(port)) take(next.message, port);
  }
}

/**
 * @param {any} message
 * @param {Port} from
 */
function take(message, from) {
  if (message.autocheckpoint) {
    // The checkpointer thread failed: checkpoint on commit again.
    db.pragma('wal_autocheckpoint = 1000');
  } else if (message.close) {
    if (from === parentPort) closing = true;
    else detach(from);
  } else if (message.attach) {
    listen(message.attach);
  } else {
    queue.push({ ...message, from });
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
    const started = performance.now();
    /** @type {any[] | undefined} */
    let outcomes;
    /** @type {any} */
    let failure;
    try {
      outcomes = writer.commitBatches(group);
    } catch (error) {
      failure = error instanceof Error ? { name: error.name, message: error.message, code: /** @type {any} */ (error).code } : { message: String(error) };
    }
    const timing = { startedAt: performance.timeOrigin + started, writerMs: performance.now() - started };
    for (const port of ports) {
      const mine = group.flatMap((message, i) => (message.from === port ? [i] : []));
      if (mine.length > 0) {
        const seqs = mine.map((i) => group[i].seq);
        port.postMessage(outcomes ? { seqs, outcomes: mine.map((i) => outcomes[i]), ...timing } : { seqs, failure, ...timing });
      } else if (outcomes && ports.length > 1) {
        // The others' subscribers wake without polling the file.
        const head = lastPosition(outcomes);
        if (head > 0) port.postMessage({ head });
      }
    }
  }
}

/**
 * The position of the last event a commit wrote (0 if none).
 * @param {any[]} outcomes one list of append outcomes per batch
 */
function lastPosition(outcomes) {
  let head = 0;
  for (const batch of outcomes) for (const outcome of batch) if (outcome.ok && outcome.appended > 0 && outcome.position > head) head = outcome.position;
  return head;
}

/** @param {Port} port */
function listen(port) {
  ports.push(port);
  port.on('message', (message) => {
    take(message, port);
    commitQueued();
  });
  port.on('close', () => detach(port));
}

/** @param {Port} port */
function detach(port) {
  const index = ports.indexOf(port);
  if (index > 0) ports.splice(index, 1);
  port.close();
}

/** @param {any[]} batch */
function countEvents(batch) {
  let n = 0;
  for (const request of batch) n += request.events.length;
  return n;
}

parentPort.on('message', (message) => {
  take(message, /** @type {Port} */ (parentPort));
  commitQueued();
  if (closing) {
    db.close();
    for (const port of ports) port.close();
  }
});
