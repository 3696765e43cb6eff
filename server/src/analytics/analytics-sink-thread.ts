/**
 * The analytics sink's worker thread (started by `SinkWorker`, through analytics-sink.worker.js):
 * it follows the SQLite log with its own read-only connection, maps each event to its row with the
 * funnel context (its own connection to the sink's state database) and serialises each batch to a
 * JSONEachRow payload, which it hands to the main thread (transferred, not copied). The main thread
 * inserts it with its AnalyticsStore (libchdb binds one data folder per process, and the API's
 * queries use that session) and answers `stored`; only then does this thread commit the batch's
 * funnel links and the checkpoint, in one transaction.
 *
 * At most one batch waits for its `stored` at a time; the next one is read and mapped meanwhile.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteRawReader } from '../event-store/sqlite/sqlite-raw-reader';
import { openStateDb, readCheckpoint, writeCheckpoint } from '../state/state-db';
import { rawEventRowLine } from './event-rows';
import { FunnelContext } from './funnel-context';
import type { FromSinkThread, SinkThreadData, ToSinkThread } from './sink-thread-messages';

const PAGE = 1000;

if (!parentPort) throw new Error('analytics-sink-thread runs as a worker thread');
const port = parentPort;
const options = workerData as SinkThreadData;

const post = (message: FromSinkThread, transfer?: ArrayBuffer[]) => port.postMessage(message, transfer);

let stopping = false;
let wake: (() => void) | undefined;
let appended = false;
/** The batch handed over and not yet stored, and who waits for its commit. */
let unacknowledged: { seq: number; last: number } | undefined;
let acknowledged: (() => void) | undefined;

let log: Database.Database | undefined;
let state: ReturnType<typeof openStateDb> | undefined;

port.on('message', (message: ToSinkThread) => {
  switch (message.type) {
    case 'appended':
      appended = true;
      wake?.();
      return;
    case 'stored':
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
  const batch = unacknowledged;
  if (!batch || batch.seq !== seq) return;
  try {
    commit!(batch.last);
    unacknowledged = undefined;
    post({ type: 'committed', seq, position: batch.last });
  } catch (error) {
    post({ type: 'failed', message: `Cannot commit the analytics checkpoint: ${(error as Error).message}` });
    stopping = true;
  }
  acknowledged?.();
}

let commit: ((last: number) => void) | undefined;

/** Resolves on an append, on `stop`, or after `ms` (the poll that also catches appends nobody announced). */
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

/** Lets messages (`stored`, `appended`, `stop`) in between pages. */
const yieldToMessages = () => new Promise<void>((resolve) => setImmediate(resolve));

async function run(): Promise<void> {
  log = new Database(options.logPath, { readonly: true, fileMustExist: true });
  log.pragma('cache_size = -65536');
  const reader = new SqliteRawReader(log);
  state = openStateDb(options.statePath);
  // The main thread writes the same database (projections); wait for its transactions, never fail on them.
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
  const mapPage = db.transaction((from: number, max: number) => {
    const events = reader.readPage(from, max);
    return { lines: events.map((event) => rawEventRowLine(event, context)), last: events.at(-1)?.position };
  });
  post({ type: 'started', checkpoint });

  let read = checkpoint;
  let seq = 0;
  while (!stopping) {
    const lines: string[] = [];
    let firstAt = 0;
    while (!stopping && lines.length < options.maxBatch) {
      appended = false;
      const want = Math.min(PAGE, options.maxBatch - lines.length);
      const page = mapPage(read + 1, want);
      if (page.last !== undefined) {
        if (lines.length === 0) firstAt = Date.now();
        for (const line of page.lines) lines.push(line);
        read = page.last;
      }
      if (page.lines.length === want) {
        await yieldToMessages();
        continue;
      }
      // At the head: a batch stays open up to maxWaitMs after its first event.
      if (lines.length > 0) {
        const left = firstAt + options.maxWaitMs - Date.now();
        if (left <= 0) break;
        await sleep(Math.min(left, options.pollMs));
      } else {
        await sleep(options.pollMs);
      }
    }
    if (stopping || lines.length === 0) break;
    const payload = new TextEncoder().encode(lines.join('\n'));
    while (unacknowledged && !stopping) await new Promise<void>((resolve) => (acknowledged = resolve));
    acknowledged = undefined;
    if (stopping) break;
    seq += 1;
    unacknowledged = { seq, last: read };
    post({ type: 'batch', seq, payload: payload.buffer as ArrayBuffer, events: lines.length, last: read }, [payload.buffer as ArrayBuffer]);
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
