/**
 * The analytics sink's worker thread (started by `SinkWorker`, through analytics-sink.worker.js):
 * it follows the SQLite log with its own read-only connection, maps each event to its row with the
 * funnel context (its own connection to the sink's state database) and serialises each batch to a
 * TabSeparated payload, which it hands to the main thread (transferred, not copied). The main thread
 * inserts it with its AnalyticsStore (libchdb binds one data folder per process, and the API's
 * queries use that session) and answers `stored`; only then does this thread commit the batch's
 * funnel links and the checkpoint, in one transaction.
 *
 * Up to two batches may wait for their `stored` at a time, so the main thread can insert the next
 * batch while this thread commits the one before; the next one is read and mapped meanwhile.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteRawReader } from '../event-store/sqlite/sqlite-raw-reader';
import { openStateDb, readCheckpoint, writeCheckpoint } from '../state/state-db';
import { writeRawEventRow } from './event-rows';
import { FunnelContext } from './funnel-context';
import type { FromSinkThread, SinkThreadData, ToSinkThread } from './sink-thread-messages';
import { TsvPayload } from './tsv-payload';

const PAGE = 1000;

if (!parentPort) throw new Error('analytics-sink-thread runs as a worker thread');
const port = parentPort;
const options = workerData as SinkThreadData;

const post = (message: FromSinkThread, transfer?: ArrayBuffer[]) => port.postMessage(message, transfer);
/** 1 while an append should be announced (see `SinkThreadData.listening`). */
const listening = new Int32Array(options.listening);

let stopping = false;
let wake: (() => void) | undefined;
let appended = false;
/** Batches handed over and not yet stored, oldest first, and who waits for one of them to be. */
const unacknowledged: Array<{ seq: number; last: number }> = [];
const MAX_UNACKNOWLEDGED = 2;
let acknowledged: (() => void) | undefined;
/**
 * Payload memory the main thread handed back once it was inserted, for the next batches. A payload
 * in fresh memory took a page fault per 4 KB written, about 700 per batch of 5,000 events; on this
 * project's VMs a first touch of a page costs 20-30 µs, about 3 µs per event.
 */
const spareBuffers: ArrayBuffer[] = [];

let log: Database.Database | undefined;
let state: ReturnType<typeof openStateDb> | undefined;

port.on('message', (message: ToSinkThread) => {
  switch (message.type) {
    case 'appended':
      appended = true;
      wake?.();
      return;
    case 'stored':
      if (message.buffer && spareBuffers.length < MAX_UNACKNOWLEDGED + 1) spareBuffers.push(message.buffer);
      return stored(message.seq);
    case 'stop':
      stopping = true;
      wake?.();
      acknowledged?.();
      return;
    default: {
      const unknown: never = message;
      throw new Error(`Unknown message to the sink thread: ${JSON.stringify(unknown)}`);
    }
  }
});

function stored(seq: number): void {
  // Stored in the order they were handed over: the checkpoint only moves forward.
  const batch = unacknowledged[0];
  if (!batch || batch.seq !== seq) return;
  try {
    commit!(batch.last);
    unacknowledged.shift();
    post({ type: 'committed', seq, position: batch.last });
  } catch (error) {
    post({ type: 'failed', message: `Cannot commit the analytics checkpoint: ${(error as Error).message}` });
    stopping = true;
  }
  acknowledged?.();
}

let commit: ((last: number) => void) | undefined;
/** Pages of the log read so far (reported with each batch). */
let reads = 0;

/** Resolves on an announced append, on `stop`, or after `ms` (the poll also catches appends nobody announced). */
function sleep(ms: number): Promise<void> {
  if (appended || stopping) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      wake = undefined;
      resolve();
    }
    wake = done;
  });
}

/** A batch's payload (not in Node's pool: it is transferred to the main thread, and back once inserted). */
const newPayload = () => new TsvPayload(options.maxBatch * 1200, spareBuffers.pop());

/** Lets messages (`stored`, `appended`, `stop`) in between pages. */
const yieldToMessages = () => new Promise<void>((resolve) => setImmediate(resolve));

async function run(): Promise<void> {
  log = new Database(options.logPath, { readonly: true, fileMustExist: true });
  // The log is read once, front to back: mapped, its pages are read where the OS keeps them instead
  // of being copied into a page cache of this connection's own (64 MB of fresh memory, a page fault
  // per 4 KB). Measured on a 200k-event log: 12 µs of this thread's CPU per event against 14-15.
  log.pragma('mmap_size = 2147418112');
  const reader = new SqliteRawReader(log);
  // The sink's own state file (sink-state.ts); its commits checkpoint its WAL, on this thread.
  state = openStateDb(options.statePath, { checkpointIntervalMs: 0 });
  // The main thread opens the file too (it moves old state over at start and reads the checkpoint):
  // wait for its transactions (up to busyTimeoutMs) instead of failing at once; a commit that still
  // fails ends this thread and the sink starts a new one from the checkpoint.
  state.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
  const db = state;
  const context = new FunnelContext(db);
  const checkpoint = readCheckpoint(db, options.checkpointName);
  commit = db.transaction((last: number) => {
    context.commit();
    writeCheckpoint(db, options.checkpointName, last);
  });
  // Point lookups of the funnel context inside one read transaction per page: an autocommit read on
  // a WAL database takes two locking syscalls each.
  let payload = newPayload();
  const mapPage = db.transaction((from: number, max: number) => {
    reads += 1;
    const events = reader.readPage(from, max);
    for (const event of events) writeRawEventRow(event, context, payload);
    return { count: events.length, last: events.at(-1)?.position, firstRecordedMs: events[0]?.recordedAtMs };
  });
  post({ type: 'started', checkpoint });

  let read = checkpoint;
  let seq = 0;
  while (!stopping) {
    /** When the batch stops waiting at the head for more events. */
    let closesAt = 0;
    while (!stopping && payload.rows < options.maxBatch) {
      appended = false;
      const want = Math.min(PAGE, options.maxBatch - payload.rows);
      const first = payload.rows === 0;
      // Listening from before the read that may find the head empty: an append after this is either
      // in that read or announced. Not once a batch is open: it reads on its own clock (below).
      if (first) Atomics.store(listening, 0, 1);
      const readAt = Date.now();
      const page = mapPage(read + 1, want);
      if (page.last !== undefined) read = page.last;
      if (payload.rows > 0) Atomics.store(listening, 0, 0);
      // A batch stays open up to maxWaitMs after its first event was appended (or read, if the
      // clock says later): events that already waited that long, as at the end of a catch-up after
      // a start or a replay, go in as soon as the head is reached instead of waiting once more.
      if (first && page.firstRecordedMs !== undefined) closesAt = Math.min(readAt, page.firstRecordedMs) + options.maxWaitMs;
      if (page.count === want) {
        await yieldToMessages();
        continue;
      }
      // At the head. An open batch closes at its time whatever arrives meanwhile, so appends are not
      // announced to it (`listening` is down): it reads every openBatchReadMs and at the close, many
      // events each time, instead of a few after every commit of the log (hundreds a second, each a
      // read transaction). An empty batch is opened by the first append.
      if (payload.rows > 0) {
        const left = closesAt - Date.now();
        if (left <= 0) break;
        await sleep(Math.min(left, options.openBatchReadMs));
      } else {
        await sleep(options.pollMs);
      }
    }
    if (stopping || payload.rows === 0) break;
    const bytes = payload.bytes();
    const events = payload.rows;
    while (unacknowledged.length >= MAX_UNACKNOWLEDGED && !stopping) await new Promise<void>((resolve) => (acknowledged = resolve));
    acknowledged = undefined;
    if (stopping) break;
    seq += 1;
    unacknowledged.push({ seq, last: read });
    post({ type: 'batch', seq, payload: bytes.buffer as ArrayBuffer, offset: bytes.byteOffset, length: bytes.byteLength, events, last: read, reads }, [
      bytes.buffer as ArrayBuffer,
    ]);
    // After the wait above, so that the memory of a batch stored meanwhile is there to reuse.
    payload = newPayload();
  }
}

run()
  .catch((error: unknown) => post({ type: 'failed', message: (error as Error).message ?? String(error) }))
  .finally(() => {
    // Uncommitted funnel links are dropped with the thread; the next start re-reads from the checkpoint.
    state?.close();
    log?.close();
    port.close();
  });
