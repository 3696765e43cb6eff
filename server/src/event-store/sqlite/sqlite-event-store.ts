/**
 * The embedded event log: one SQLite file in WAL mode with synchronous=FULL, so an append is on disk
 * before its promise resolves. Appends are group-committed: every waiting append goes into one
 * transaction and one fsync, which is what lets durable ingestion keep up with the HTTP layer. The
 * commits run on a writer thread (sqlite-writer.worker.js), so the event loop keeps serving requests
 * and projections while the disk syncs, and the appends arriving meanwhile form the next commit.
 * Reads use this thread's own connection; WAL lets them run beside the writer.
 *
 * Positions are SQLite rowids assigned inside the writers' transactions, which SQLite runs one at a
 * time, so commit order is position order and a reader following positions never misses an event
 * appended concurrently. By default only this process writes, which lets the store answer some reads
 * from what it wrote itself; `shared` drops those shortcuts so ingestion nodes in other processes
 * can append to the same file (docs/deployment.md, "Ingestion nodes").
 */
import Database from 'better-sqlite3';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { GenerationalMap } from '../../shared/generational-map';
import { startWalCheckpointer } from '../../shared/wal-checkpointer';
import { bytesToUuid, uuidToBytes } from '../../shared/ids';
import { EventStoreUnavailableError, WrongExpectedRevisionError } from '../errors';
import type {
  AppendOptions,
  AppendResult,
  EventFilter,
  EventStore,
  ExpectedRevision,
  LocalLogFile,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SubscribeOptions,
  Subscription,
} from '../event-store.port';
import { matches, matchesTypeAndStream } from '../event-filter';
import { validateAppend, validateExpectedRevision } from '../validate-append';
import { liveSubscription } from '../live-subscription';
import type { EventRow } from './sqlite-raw-reader';
import { type AppendOutcome, type AppendRequest, createWriter } from './sqlite-writer';

/** At most this many recently read events are kept for the other subscribers. */
const RECENT_READS = 20_000;
/**
 * A live subscriber further behind the furthest-ahead one than this many events reads from the log
 * and holds nothing kept for it: a dispatcher minutes behind the others would otherwise keep every
 * event kept (none of them read by it) until RECENT_READS pushes it out, so each one outlived several
 * scavenges and was promoted, and keep nothing for the others at all (`keepAppended` waits for readers
 * to catch up). Subscribers catching up together (after a start) still share what they read.
 */
const FAR_BEHIND = 5_000;

/** Whether a subscriber about to read `position` is so far behind the lead that nothing is kept for it. */
function farBehind(position: number, lead: number): boolean {
  return position <= lead - FAR_BEHIND;
}
/** Streams whose last revision is known from this store's own commits, per generation (two are kept). */
const KNOWN_STREAMS = 50_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS streams (
  stream_id INTEGER PRIMARY KEY,
  name      TEXT NOT NULL UNIQUE,
  revision  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  position    INTEGER PRIMARY KEY,
  stream_id   INTEGER NOT NULL,
  revision    INTEGER NOT NULL,
  event_id    BLOB NOT NULL,
  type        TEXT NOT NULL,
  data        TEXT NOT NULL,
  metadata    TEXT NOT NULL,
  recorded_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_stream ON events (stream_id, revision);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_id ON events (event_id);
`;

interface PendingAppend {
  stream: string;
  events: NewEvent[];
  expected: ExpectedRevision;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

type Settler = Pick<PendingAppend, 'resolve' | 'reject'>;

/** A live subscription's next position to read, and the events it reads the data of (all without). */
interface Reader {
  next: number;
  reads?: EventFilter;
}

/**
 * A committed event that no live subscriber near the head reads the data of (each one's `reads`
 * leaves it out): handed out all the same, in order, with its JSON decoded on first access instead of
 * at once. On an ingestion node the identity projection follows the log for the links alone, so
 * every tracked event would otherwise be parsed, kept and dropped unread (bench:ingest).
 */
class LazyEvent implements RecordedEvent {
  private decodedData: unknown;
  private decodedMetadata: RecordedEvent['metadata'] | undefined;

  constructor(
    readonly position: number,
    readonly stream: string,
    readonly revision: number,
    readonly type: string,
    readonly recordedAt: string,
    private readonly idBytes: Uint8Array,
    private dataText: string | undefined,
    private metadataText: string | undefined,
  ) {}

  get id(): string {
    return bytesToUuid(this.idBytes);
  }

  get data(): unknown {
    if (this.dataText !== undefined) {
      this.decodedData = JSON.parse(this.dataText);
      this.dataText = undefined;
    }
    return this.decodedData;
  }

  get metadata(): RecordedEvent['metadata'] {
    if (this.metadataText !== undefined) {
      this.decodedMetadata = JSON.parse(this.metadataText);
      this.metadataText = undefined;
    }
    return this.decodedMetadata!;
  }

  /** The event as a plain object, as readers that read its data get it. */
  decoded(): RecordedEvent {
    const { id, type, data, metadata, stream, revision, position, recordedAt } = this;
    return { id, type, data, metadata, stream, revision, position, recordedAt };
  }
}

/** Whether one of the filters matches the event. */
function readBySome(reads: EventFilter[], type: string, stream: string): boolean {
  for (const filter of reads) if (matchesTypeAndStream(type, stream, filter)) return true;
  return false;
}

export interface SqliteEventStoreOptions {
  /** A file path, or ':memory:' for tests that need no durability. */
  path: string;
  readonly?: boolean;
  /** Clock for `recordedAt`; injected so tests can run on simulated time. */
  now?: () => number;
  /** Upper bound on events per group commit, to keep each transaction short. */
  maxBatchEvents?: number;
  /**
   * Other processes append to the same file (ingestion nodes): the store learns of their appends by
   * polling, and reads the log instead of trusting what it wrote itself.
   */
  shared?: boolean;
  /**
   * Asked before each commit: a reason this store may no longer write (an ingestion node whose main
   * process stopped sharing the log), or undefined. With a reason, the store refuses the appends
   * waiting and every later one, and closes.
   */
  refuseCommits?: () => string | undefined;
  /** How often a read-only or shared store looks for events appended by other processes (ms). */
  pollIntervalMs?: number;
  /** Commit on a writer thread (the default for files; ':memory:' databases always commit in-process). */
  writerThread?: boolean;
  /**
   * With a writer thread, how often another thread checkpoints the WAL (ms); 0 leaves checkpoints to
   * SQLite, inside whichever commit crosses 1,000 WAL pages.
   */
  checkpointIntervalMs?: number;
  /**
   * With the checkpointer thread: a WAL using more than this is restarted between two commits (which
   * holds the next commit while the last frames are copied and the file synced). At 2,000 events/s
   * the log's WAL grows by about 20 MB/s (random index pages), so 64 MB restarts it every ~3 s.
   */
  maxWalBytes?: number;
}

/**
 * A commit's end: each append's outcome, or the error that rolled the transaction back; when the
 * transaction began (ms since 1970) and how long it took where it ran (bench:segments' trace tells
 * them apart from the wait in the writer's queue and the trip back), and whether the batch shared it
 * with the batch before.
 */
type CommitDone = (outcomes: AppendOutcome[] | undefined, failure?: Error, info?: { startedAt: number; writerMs: number; joined: boolean }) => void;

interface Committer {
  /**
   * Whether a batch may be handed over while earlier ones are being committed: they are committed in
   * the order given, and the callbacks are called in that order.
   */
  readonly queues: boolean;
  /** Commits the batch, in one transaction (perhaps shared with batches handed over with it). */
  commit(batch: AppendRequest[], recordedAt: number, done: CommitDone): void;
  close(): Promise<void>;
}

export class SqliteEventStore implements EventStore {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly appended = new EventEmitter();
  private pending: PendingAppend[] = [];
  private flushScheduled = false;
  /**
   * Batches handed to the committer and not settled yet. Without a queueing committer at most one:
   * appends arriving meanwhile wait for it to end and form the next batch.
   */
  private committing = 0;
  private readonly committer: Committer;
  private closed = false;
  /** Why the store stopped writing by itself (its writer died, or it may no longer write). */
  private stoppedBecause?: string;
  private readonly now: () => number;
  private readonly path: string;
  private readonly maxBatchEvents: number;
  private readonly refuseCommits?: () => string | undefined;
  private readonly pollTimer?: NodeJS.Timeout;
  private readonly statements;
  /** Recently read events by position (see `readPage`). */
  private readonly recent = new Map<number, RecordedEvent | LazyEvent>();
  private oldestRecent = 0;
  /** The live subscriptions. */
  private readonly readers = new Set<Reader>();
  /** The last position this store has appended (for `keepAppended` and `readPage`); 0 when read-only. */
  private head = 0;
  /** Read-only, or shared with writers in other processes: the log may hold more than this store wrote. */
  private readonly othersWrite: boolean;
  /**
   * The last revision of the streams this store appended to lately. When the store is the log's only
   * writer, a forward read from past that revision has nothing to return and needs no query.
   */
  private readonly streamHeads = new GenerationalMap<string, number>(KNOWN_STREAMS);
  /**
   * Stream names by id (a name never changes), of the streams this store appended to or read lately:
   * a page of the log is read without joining each event to its stream. With a million streams that
   * join was a random read of the streams table per event (bench:segments (b): ≈ 14 µs an event more
   * than with 10,000 streams, where the table stays cached).
   */
  private readonly streamNames = new GenerationalMap<number, string>(KNOWN_STREAMS);
  /**
   * Counters for benchmarks and tests: how well appends are being grouped, and how often
   * subscribers read the file (`logReads`) rather than the kept events.
   */
  readonly stats = { commits: 0, appends: 0, events: 0, logReads: 0 };

  constructor(options: SqliteEventStoreOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path, { readonly: options.readonly ?? false });
    this.now = options.now ?? Date.now;
    this.othersWrite = (options.readonly ?? false) || (options.shared ?? false);
    this.path = options.path;
    this.maxBatchEvents = options.maxBatchEvents ?? 10_000;
    this.refuseCommits = options.refuseCommits;
    this.appended.setMaxListeners(0);
    if (!options.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.exec(SCHEMA);
    }
    this.db.pragma('cache_size = -65536');
    const select = `SELECT e.position, s.name, e.revision, e.event_id, e.type, e.data, e.metadata, e.recorded_at
      FROM events e JOIN streams s ON s.stream_id = e.stream_id`;
    this.statements = {
      streamByName: this.db.prepare<[string], { stream_id: number; revision: number }>(
        'SELECT stream_id, revision FROM streams WHERE name = ?',
      ),
      readForwards: this.db.prepare<[number, number, number], EventRow>(
        `${select} WHERE e.stream_id = ? AND e.revision >= ? ORDER BY e.revision LIMIT ?`,
      ),
      readBackwards: this.db.prepare<[number, number, number], EventRow>(
        `${select} WHERE e.stream_id = ? AND e.revision <= ? ORDER BY e.revision DESC LIMIT ?`,
      ),
      readAll: this.db.prepare<[number, number], EventRow>(
        `${select} WHERE e.position >= ? ORDER BY e.position LIMIT ?`,
      ),
      readPage: this.db.prepare<[number, number], PageRow>(
        `SELECT position, stream_id, revision, event_id, type, data, metadata, recorded_at
         FROM events WHERE position >= ? ORDER BY position LIMIT ?`,
      ),
      streamName: this.db.prepare<[number], { name: string }>('SELECT name FROM streams WHERE stream_id = ?'),
      head: this.db.prepare<[], { head: number | null }>('SELECT MAX(position) AS head FROM events'),
    };
    if (!options.readonly) this.head = this.headSync();
    this.committer =
      options.readonly || options.path === ':memory:' || options.writerThread === false
        ? inProcessCommitter(this.db)
        : threadCommitter(options.path, (error) => this.writerFailed(error), {
            intervalMs: options.checkpointIntervalMs ?? 100,
            maxWalBytes: options.maxWalBytes ?? 64 * 1024 * 1024,
            maxBatchEvents: this.maxBatchEvents,
          });
    if (this.othersWrite) {
      // Other processes write; notice their appends by polling the head. A shared store polls often:
      // its projections react to what ingestion nodes append (one indexed query per poll). Not while
      // a commit of its own is on its way: the poll would see that commit in the file before its
      // answer came back, and wake the subscribers to read and decode from the file what the answer
      // hands them decoded (`keepAppended`); the answer wakes them, and they then read the file past
      // it, where the others' appends are.
      let lastHead = this.headSync();
      this.pollTimer = setInterval(() => {
        if (this.closed || this.committing > 0) return;
        const head = this.headSync();
        if (head > Math.max(lastHead, this.head)) {
          lastHead = head;
          this.appended.emit('appended', head);
        }
      }, options.pollIntervalMs ?? (options.shared ? 5 : 200));
      this.pollTimer.unref();
    }
  }

  append(stream: string, events: NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new EventStoreUnavailableError(this.stoppedBecause ?? 'The event store is closed'));
    try {
      validateAppend(stream, events);
      validateExpectedRevision(options.expectedRevision ?? 'any');
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ stream, events, expected: options.expectedRevision ?? 'any', resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // setImmediate runs after the I/O callbacks already queued, so every request that arrived
        // in the same turn of the event loop joins this commit.
        setImmediate(() => this.flush());
      }
    });
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const forwards = options.direction !== 'backwards';
    // Nothing after the stream's last revision: no query, which is most of what a reader that keeps
    // the stream folded asks (the dispatcher's check for events since its view, once per message).
    const known = forwards && !this.othersWrite ? this.streamHeads.get(stream) : undefined;
    if (known !== undefined && (options.fromRevision ?? 0) > known) return [];
    const found = this.statements.streamByName.get(stream);
    if (!found) return [];
    const maxCount = options.maxCount ?? Number.MAX_SAFE_INTEGER;
    if (forwards && (options.fromRevision ?? 0) > found.revision) return [];
    const rows =
      options.direction === 'backwards'
        ? this.statements.readBackwards.all(found.stream_id, options.fromRevision ?? found.revision, maxCount)
        : this.statements.readForwards.all(found.stream_id, options.fromRevision ?? 0, maxCount);
    return rows.map((row) => toRecorded(row, row.name));
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    return this.readAllSync(options.fromPosition ?? 0, options.maxCount ?? Number.MAX_SAFE_INTEGER, options.filter);
  }

  async headPosition(): Promise<number> {
    this.assertOpen();
    return this.headSync();
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    // What it reads the data of: what it is handed, if it filters; else what it says it reads.
    const reader: Reader = { next: (options.afterPosition ?? 0) + 1, reads: options.filter ?? options.reads };
    this.readers.add(reader);
    return liveSubscription({
      afterPosition: options.afterPosition ?? 0,
      readPage: async (fromPosition, maxCount) => {
        // Read unfiltered pages so the checkpoint advances past filtered-out events too.
        const page = this.readPage(fromPosition, maxCount, true, reader.reads);
        reader.next = (page.at(-1)?.position ?? fromPosition - 1) + 1;
        this.forgetEventsReadByAll();
        return {
          events: options.filter ? page.filter((event) => matches(event, options.filter)) : page,
          lastPosition: page.at(-1)?.position,
          full: page.length === maxCount,
        };
      },
      onAppended: (listener) => {
        this.appended.on('appended', listener);
        return () => {
          this.appended.off('appended', listener);
          this.readers.delete(reader);
        };
      },
    });
  }

  localLogFile(): LocalLogFile | undefined {
    if (this.path === ':memory:') return undefined;
    return {
      path: this.path,
      onAppended: (listener) => {
        this.appended.on('appended', listener);
        return () => this.appended.off('appended', listener);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.pollTimer) clearInterval(this.pollTimer);
    // Let appends already accepted finish before closing.
    while (this.pending.length > 0 || this.flushScheduled || this.committing > 0) await new Promise((r) => setImmediate(r));
    this.closed = true;
    this.appended.emit('closed');
    await this.committer.close();
    this.db.close();
  }

  private flush(): void {
    this.flushScheduled = false;
    if ((this.committing > 0 && !this.committer.queues) || this.pending.length === 0) return;
    const refusal = this.refuseCommits?.();
    if (refusal !== undefined) return this.stopWriting(refusal);
    let batch = this.pending;
    let eventCount = 0;
    const cut = batch.findIndex((request) => (eventCount += request.events.length) > this.maxBatchEvents);
    if (cut > 0) {
      this.pending = batch.slice(cut);
      batch = batch.slice(0, cut);
    } else {
      this.pending = [];
    }
    // Only the promises' settlers wait for the commit, not the appenders' event objects: those die
    // young once serialised (a thousand appends in flight held them long enough to be promoted).
    const accepted: Settler[] = [];
    const requests: AppendRequest[] = [];
    for (const request of batch) {
      try {
        requests.push(serialize(request));
        accepted.push({ resolve: request.resolve, reject: request.reject });
      } catch (error) {
        request.reject(error);
      }
    }
    if (requests.length === 0) return this.flush();
    this.committing += 1;
    const recordedAt = this.now();
    this.committer.commit(requests, recordedAt, (outcomes, failure, info) => {
      this.committing -= 1;
      if (outcomes) {
        this.noteStreamHeads(requests, outcomes);
        this.keepAppended(requests, outcomes, recordedAt);
      }
      this.settle(accepted, outcomes, failure, info?.joined ?? false);
      // What arrived during this commit goes to disk next.
      this.flush();
    });
    // A queueing committer takes the rest of a batch cut at maxBatchEvents at once.
    if (this.committer.queues && this.pending.length > 0) this.flush();
  }

  private settle(batch: Settler[], outcomes: AppendOutcome[] | undefined, failure: Error | undefined, joined: boolean): void {
    if (!outcomes) {
      for (const request of batch) request.reject(failure);
      return;
    }
    if (!joined) this.stats.commits += 1;
    this.stats.appends += batch.length;
    let lastPosition = 0;
    batch.forEach((request, i) => {
      const outcome = outcomes[i];
      if (!outcome.ok) {
        request.reject(new WrongExpectedRevisionError(outcome.conflict.stream, outcome.conflict.expected, outcome.conflict.actual));
        return;
      }
      this.stats.events += outcome.appended;
      if (outcome.appended > 0) lastPosition = Math.max(lastPosition, outcome.position);
      request.resolve({ nextExpectedRevision: outcome.nextExpectedRevision, position: outcome.position, appended: outcome.appended });
    });
    if (lastPosition > 0) this.appended.emit('appended', lastPosition);
  }

  /** The writer thread died: nothing more can be made durable. */
  private writerFailed(error: Error): void {
    this.stopWriting(`The event log writer stopped: ${error.message}`);
  }

  private stopWriting(reason: string): void {
    this.closed = true;
    this.stoppedBecause = reason;
    const failure = new EventStoreUnavailableError(reason);
    for (const request of this.pending) request.reject(failure);
    this.pending = [];
  }

  private readAllSync(fromPosition: number, maxCount: number, filter?: EventFilter): RecordedEvent[] {
    if (!filter) return this.readPage(fromPosition, maxCount, false);
    // Filtered reads scan in pages so a selective filter still returns up to maxCount events; rows
    // are matched on their type and stream before their JSON is decoded.
    const result: RecordedEvent[] = [];
    let from = fromPosition;
    const pageSize = Math.min(Math.max(maxCount, 1000), 10_000);
    while (result.length < maxCount) {
      const rows = this.statements.readAll.all(from, pageSize);
      for (const row of rows) {
        if (!matchesTypeAndStream(row.type, row.name, filter)) continue;
        const kept = this.recent.get(row.position);
        result.push(kept === undefined ? toRecorded(row, row.name) : kept instanceof LazyEvent ? kept.decoded() : kept);
        if (result.length >= maxCount) break;
      }
      if (rows.length < pageSize) break;
      from = rows[rows.length - 1].position + 1;
    }
    return result;
  }

  /**
   * Up to `maxCount` committed events from `fromPosition`. Every live subscriber (one per projection)
   * reads the same recent events, so with `keep` (subscriptions) they are parsed once and kept for
   * the others; the objects are shared and must not be changed by readers. One-off reads (`readAll`:
   * rebuilds, backfills, exports) do not keep theirs: holding 20,000 events they will not read again
   * made every one of them survive into the old generation, which the GC then paid for.
   *
   * With `keep`, an event that no live subscriber near the head reads the data of (`reads`) is handed
   * out as a `LazyEvent`; a subscriber that reads it gets it decoded (and kept so for the others).
   */
  private readPage(fromPosition: number, maxCount: number, keep: boolean, reads?: EventFilter): RecordedEvent[] {
    const page: RecordedEvent[] = [];
    let position = this.takeKept(page, fromPosition, maxCount, keep, reads);
    // Past the last position this store appended there is nothing to read: a subscriber woken by a
    // commit it has already read from the kept events does not query the log (one empty query per
    // subscriber and commit, ≈ 6% of the event loop in bench:send). A read-only store learns of
    // appends by polling, and so does a store shared with other writers, so they always query.
    if (page.length === maxCount || (!this.othersWrite && position > this.head)) return page;
    const lead = keep ? this.leadReader() : 0;
    // Read by this subscriber or by another near the head (undefined: all events are).
    const readers = keep && reads !== undefined ? this.readsNear(lead) : undefined;
    readers?.push(reads!);
    while (page.length < maxCount) {
      // A subscriber behind the kept events reads the log up to them, then takes them.
      const beforeKept = this.recent.size > 0 && position < this.oldestRecent ? this.oldestRecent - position : Number.POSITIVE_INFINITY;
      const limit = Math.min(maxCount - page.length, beforeKept);
      const rows = this.statements.readPage.all(position, limit);
      if (keep) this.stats.logReads += 1;
      if (rows.length === 0) break;
      for (const row of rows) {
        // Kept past a gap in the kept events (an append written in part is not kept).
        const kept = this.recent.get(row.position);
        if (kept !== undefined) {
          page.push(this.keptAsRead(kept, keep, reads));
          continue;
        }
        const stream = this.streamNameOf(row.stream_id);
        const event =
          readers === undefined || readBySome(readers, row.type, stream)
            ? toRecorded(row, stream)
            : new LazyEvent(row.position, stream, row.revision, row.type, new Date(row.recorded_at).toISOString(), row.event_id, row.data, row.metadata);
        page.push(event);
        if (keep && maxCount <= RECENT_READS && !farBehind(event.position, lead)) this.remember(event);
      }
      // Fewer rows than asked for: the end of the log.
      if (rows.length < limit) break;
      position = this.takeKept(page, rows[rows.length - 1].position + 1, maxCount, keep, reads);
    }
    return page;
  }

  /** Adds the kept events from `position` on to the page, up to `maxCount`; the position after them. */
  private takeKept(page: RecordedEvent[], position: number, maxCount: number, keep: boolean, reads?: EventFilter): number {
    for (let kept = this.recent.get(position); kept && page.length < maxCount; kept = this.recent.get(position)) {
      const event = this.keptAsRead(kept, keep, reads);
      page.push(event);
      position = event.position + 1;
    }
    return position;
  }

  /** A kept event as this reader is handed it: decoded (and kept so) if it reads its data. */
  private keptAsRead(kept: RecordedEvent | LazyEvent, keep: boolean, reads?: EventFilter): RecordedEvent {
    if (!(kept instanceof LazyEvent) || (keep && !matchesTypeAndStream(kept.type, kept.stream, reads))) return kept;
    const decoded = kept.decoded();
    this.recent.set(decoded.position, decoded);
    return decoded;
  }

  /**
   * Keeps the events of a commit for the live subscribers, decoded from the JSON text just written,
   * so that the first of them to read does not fetch and decode the rows again (about 8% of the
   * server's time under `/v1/track` load). Decoded, not the appender's own objects: those may hold
   * what JSON does not keep (undefined fields, Dates), and a subscriber must see what a replay sees. Only appends written whole: an append that found some of
   * its ids already stored wrote the others at positions not known here, and is read from the log.
   * Nothing is kept when no subscriber near the head is live (it would stay until evicted).
   * Subscribers FAR_BEHIND the furthest-ahead one do not count: they read from the log whatever is
   * kept. A subscriber still behind the events before this commit (one that lags a little, such as a
   * dispatcher waiting for its commits) does not stop the keeping: it reads the log up to the kept
   * events, which it then reads too. (Stopping instead sent every other subscriber to the log after
   * each commit while one lagged: 1–1.8 s of the main thread in 20 s at 1,000 triggers/s, bench/README.)
   */
  private keepAppended(requests: AppendRequest[], outcomes: AppendOutcome[], recordedAt: number): void {
    for (const outcome of outcomes) if (outcome.ok) this.head = Math.max(this.head, outcome.position);
    const lead = this.leadReader();
    let near = 0;
    for (const { next } of this.readers) if (!farBehind(next, lead)) near += 1;
    if (near === 0) return;
    const readers = this.readsNear(lead);
    const recordedAtText = new Date(recordedAt).toISOString();
    requests.forEach((request, i) => {
      const outcome = outcomes[i];
      const count = request.events.length;
      if (!outcome.ok || outcome.appended !== count) return;
      // One append's events are inserted one after another in one transaction: consecutive
      // positions and revisions ending at the ones reported.
      request.events.forEach((event, k) => {
        const before = count - 1 - k;
        if (readers !== undefined && !readBySome(readers, event.type, request.stream)) {
          const position = outcome.position - before;
          const revision = outcome.nextExpectedRevision - before;
          this.remember(new LazyEvent(position, request.stream, revision, event.type, recordedAtText, event.id, event.data, event.metadata));
          return;
        }
        this.remember({
          id: bytesToUuid(event.id),
          type: event.type,
          data: JSON.parse(event.data),
          metadata: JSON.parse(event.metadata),
          stream: request.stream,
          revision: outcome.nextExpectedRevision - before,
          position: outcome.position - before,
          recordedAt: recordedAtText,
        });
      });
    });
  }

  /** Notes each written stream's new last revision, before the appends are acknowledged. */
  private noteStreamHeads(requests: AppendRequest[], outcomes: AppendOutcome[]): void {
    requests.forEach((request, i) => {
      const outcome = outcomes[i];
      if (!outcome.ok || outcome.appended === 0) return;
      this.streamHeads.set(request.stream, outcome.nextExpectedRevision);
      if (outcome.streamId !== undefined) this.streamNames.set(outcome.streamId, request.stream);
    });
  }

  /**
   * Drops the kept events every live subscriber has read. They are usually all within a batch of
   * each other, so an event is dropped soon after it was read and can die young; kept for the last
   * RECENT_READS events regardless, every one of them outlived several scavenges and was promoted
   * to the old generation.
   */
  private forgetEventsReadByAll(): void {
    const lead = this.leadReader();
    let slowest = Number.POSITIVE_INFINITY;
    for (const { next } of this.readers) if (!farBehind(next, lead)) slowest = Math.min(slowest, next);
    while (this.recent.size > 0 && this.oldestRecent < slowest) {
      this.recent.delete(this.oldestRecent);
      this.oldestRecent += 1;
    }
  }

  /** The position the furthest-ahead live subscriber reads next (0 with none). */
  private leadReader(): number {
    let lead = 0;
    for (const { next } of this.readers) lead = Math.max(lead, next);
    return lead;
  }

  /**
   * What the live subscribers near the head read the data of (one filter each), or undefined when one
   * of them reads every event (as most projections do in the server that runs them all): then every
   * event is decoded at once, as before.
   */
  private readsNear(lead: number): EventFilter[] | undefined {
    const reads: EventFilter[] = [];
    for (const reader of this.readers) {
      if (farBehind(reader.next, lead)) continue;
      if (reader.reads === undefined) return undefined;
      reads.push(reader.reads);
    }
    return reads;
  }

  /** How many read events are kept for other subscribers (for tests and metrics). */
  get keptEvents(): number {
    return this.recent.size;
  }

  private remember(event: RecordedEvent | LazyEvent): void {
    if (this.recent.has(event.position)) return;
    // Only events at or after the oldest kept: a re-read of older ones (a subscriber replaying from
    // the start) would leave every kept position below `oldestRecent`, and the eviction below would
    // then never find one to delete.
    if (this.recent.size > 0 && event.position < this.oldestRecent) return;
    this.recent.set(event.position, event);
    // Evict by the oldest position kept; deleting Map.keys().next() costs O(deleted) in V8.
    while (this.recent.size > RECENT_READS) {
      this.recent.delete(this.oldestRecent);
      this.oldestRecent += 1;
    }
    if (this.recent.size === 1) this.oldestRecent = event.position;
  }


  private streamNameOf(streamId: number): string {
    let name = this.streamNames.get(streamId);
    if (name === undefined) {
      name = this.statements.streamName.get(streamId)?.name;
      if (name === undefined) throw new Error(`The log has an event of stream ${streamId}, which it does not name`);
      this.streamNames.set(streamId, name);
    }
    return name;
  }

  private headSync(): number {
    return this.statements.head.get()?.head ?? 0;
  }

  private assertOpen(): void {
    if (this.closed) throw new EventStoreUnavailableError('The event store is closed');
  }
}

/** A row of the log's events without its stream's name (`readPage`). */
type PageRow = Omit<EventRow, 'name'> & { stream_id: number };

function toRecorded(row: Omit<EventRow, 'name'>, stream: string): RecordedEvent {
  return {
    id: bytesToUuid(row.event_id),
    type: row.type,
    data: JSON.parse(row.data),
    metadata: JSON.parse(row.metadata),
    stream,
    revision: row.revision,
    position: row.position,
    recordedAt: new Date(row.recorded_at).toISOString(),
  };
}

/** An append as the writer takes it: ids as bytes, data and metadata as JSON text. */
function serialize(request: PendingAppend): AppendRequest {
  return {
    stream: request.stream,
    expected: request.expected,
    events: request.events.map((event) => ({
      id: uuidToBytes(event.id),
      type: event.type,
      data: JSON.stringify(event.data ?? null),
      metadata: JSON.stringify(event.metadata),
    })),
  };
}

function inProcessCommitter(db: Database.Database): Committer {
  let writer: ReturnType<typeof createWriter> | undefined;
  return {
    queues: false,
    commit(batch, recordedAt, done) {
      writer ??= createWriter(db);
      let outcomes: AppendOutcome[];
      try {
        outcomes = writer.commit(batch, recordedAt);
      } catch (error) {
        return done(undefined, error as Error);
      }
      done(outcomes);
    },
    async close() {},
  };
}

/**
 * Commits on a worker thread. Batches are handed over as they come, also while a commit runs; the
 * thread commits those that arrived meanwhile together as soon as it is done (see
 * sqlite-writer.worker.js). The thread holds the process open only while a commit is in flight, so
 * an idle store does not keep a finished CLI command running.
 *
 * WAL checkpoints run on a thread of their own (`intervalMs` > 0): inside a commit, as SQLite runs
 * them by default, each one (every 1,000 WAL pages: several times a second under load) copied the
 * pages back and fsynced the database file before that commit could answer, and every append
 * arriving meanwhile waited for it and then for its own commit (bench:segments (a)).
 */
function threadCommitter(
  path: string,
  onFailure: (error: Error) => void,
  checkpoints: { intervalMs: number; maxWalBytes: number; maxBatchEvents: number },
): Committer {
  const background = checkpoints.intervalMs > 0;
  const worker = new Worker(join(__dirname, 'sqlite-writer.worker.js'), {
    workerData: { path, autocheckpoint: !background, maxBatchEvents: checkpoints.maxBatchEvents },
  });
  worker.unref();
  const checkpointer = background
    ? startWalCheckpointer(path, {
        intervalMs: checkpoints.intervalMs,
        maxWalBytes: checkpoints.maxWalBytes,
        limit: 'frames',
        // Without the thread, the writer checkpoints on commit again.
        onFailure: () => worker.postMessage({ autocheckpoint: true }),
      })
    : undefined;
  let seq = 0;
  // Batches handed over and not answered yet, by sequence number (in order).
  const inflight = new Map<number, CommitDone>();
  let exited = false;
  const fail = (error: Error) => {
    const waiting = [...inflight.values()];
    inflight.clear();
    for (const done of waiting) done(undefined, error);
    onFailure(error);
  };
  type Reply = { seqs: number[]; outcomes?: AppendOutcome[][]; failure?: { message: string; code?: string }; startedAt: number; writerMs: number };
  worker.on('message', (reply: Reply) => {
    const failure = reply.outcomes ? undefined : Object.assign(new Error(reply.failure?.message ?? 'commit failed'), { code: reply.failure?.code });
    reply.seqs.forEach((s, i) => {
      const done = inflight.get(s);
      if (!done) return;
      inflight.delete(s);
      done(reply.outcomes?.[i], failure, { startedAt: reply.startedAt, writerMs: reply.writerMs, joined: i > 0 });
    });
    if (inflight.size === 0) worker.unref();
  });
  worker.on('error', fail);
  worker.on('exit', (code) => {
    exited = true;
    if (inflight.size > 0) fail(new Error(`writer thread exited with code ${code}`));
  });
  return {
    queues: true,
    commit(batch, recordedAt, done) {
      if (exited) return done(undefined, new EventStoreUnavailableError('The event log writer has stopped'));
      seq += 1;
      inflight.set(seq, done);
      worker.ref();
      worker.postMessage({ seq, batch, recordedAt });
    },
    async close() {
      checkpointer?.stop();
      if (exited) return;
      const ended = new Promise((resolve) => worker.once('exit', resolve));
      // Held open until the thread has exited: unref'd, it let a process with nothing else pending
      // end in the middle of `await store.close()` (code after the close never ran).
      worker.ref();
      worker.postMessage({ close: true });
      await ended;
    },
  };
}
