/**
 * The embedded event log: one SQLite file in WAL mode with synchronous=FULL, so an append is on disk
 * before its promise resolves. Appends that arrive while the event loop is busy are group-committed:
 * every waiting append goes into one transaction and one fsync, which is what lets durable ingestion
 * keep up with the HTTP layer.
 *
 * Only this process writes. Positions are SQLite rowids assigned inside the single writer's
 * transactions, so commit order is position order and a reader following positions never misses
 * an event appended concurrently.
 */
import Database from 'better-sqlite3';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { bytesToUuid, uuidToBytes } from '../../shared/ids';
import { EventStoreUnavailableError, InvalidEventError, WrongExpectedRevisionError } from '../errors';
import type {
  AppendOptions,
  AppendResult,
  EventFilter,
  EventStore,
  ExpectedRevision,
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

/** How many recently read events are kept for the other subscribers. */
const RECENT_READS = 20_000;

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

interface EventRow {
  position: number;
  name: string;
  revision: number;
  event_id: Buffer;
  type: string;
  data: string;
  metadata: string;
  recorded_at: number;
}

export interface SqliteEventStoreOptions {
  /** A file path, or ':memory:' for tests that need no durability. */
  path: string;
  readonly?: boolean;
  /** Clock for `recordedAt`; injected so tests can run on simulated time. */
  now?: () => number;
  /** Upper bound on events per group commit, to keep each transaction short. */
  maxBatchEvents?: number;
  /** How often a read-only store looks for events appended by the writing process (ms). */
  pollIntervalMs?: number;
}

export class SqliteEventStore implements EventStore {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly appended = new EventEmitter();
  private pending: PendingAppend[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly now: () => number;
  private readonly maxBatchEvents: number;
  private readonly pollTimer?: NodeJS.Timeout;
  private readonly statements;
  /** Recently read events by position (see `readPage`). */
  private readonly recent = new Map<number, RecordedEvent>();
  private oldestRecent = 0;
  /** Counters for /metrics and tests: how well appends are being grouped. */
  readonly stats = { commits: 0, appends: 0, events: 0 };

  constructor(options: SqliteEventStoreOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path, { readonly: options.readonly ?? false });
    this.now = options.now ?? Date.now;
    this.maxBatchEvents = options.maxBatchEvents ?? 10_000;
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
      insertStream: this.db.prepare<[string, number]>('INSERT INTO streams (name, revision) VALUES (?, ?)'),
      updateStreamRevision: this.db.prepare<[number, number]>('UPDATE streams SET revision = ? WHERE stream_id = ?'),
      eventById: this.db.prepare<[Buffer], { position: number; stream_id: number }>(
        'SELECT position, stream_id FROM events WHERE event_id = ?',
      ),
      insertEvent: this.db.prepare(
        `INSERT INTO events (stream_id, revision, event_id, type, data, metadata, recorded_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
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
      head: this.db.prepare<[], { head: number | null }>('SELECT MAX(position) AS head FROM events'),
    };
    if (options.readonly) {
      // Another process writes; notice its appends by polling the head.
      let lastHead = this.headSync();
      this.pollTimer = setInterval(() => {
        const head = this.headSync();
        if (head !== lastHead) {
          lastHead = head;
          this.appended.emit('appended', head);
        }
      }, options.pollIntervalMs ?? 200);
      this.pollTimer.unref();
    }
  }

  append(stream: string, events: NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new EventStoreUnavailableError('The event store is closed'));
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
    const found = this.statements.streamByName.get(stream);
    if (!found) return [];
    const maxCount = options.maxCount ?? Number.MAX_SAFE_INTEGER;
    const rows =
      options.direction === 'backwards'
        ? this.statements.readBackwards.all(found.stream_id, options.fromRevision ?? found.revision, maxCount)
        : this.statements.readForwards.all(found.stream_id, options.fromRevision ?? 0, maxCount);
    return rows.map(toRecorded);
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
    return liveSubscription({
      afterPosition: options.afterPosition ?? 0,
      readPage: async (fromPosition, maxCount) => {
        // Read unfiltered pages so the checkpoint advances past filtered-out events too.
        const page = this.readAllSync(fromPosition, maxCount);
        return {
          events: page.filter((event) => matches(event, options.filter)),
          lastPosition: page.at(-1)?.position,
          full: page.length === maxCount,
        };
      },
      onAppended: (listener) => {
        this.appended.on('appended', listener);
        return () => this.appended.off('appended', listener);
      },
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.pollTimer) clearInterval(this.pollTimer);
    // Let appends already accepted finish before closing.
    while (this.pending.length > 0 || this.flushScheduled) await new Promise((r) => setImmediate(r));
    this.closed = true;
    this.appended.emit('closed');
    this.db.close();
  }

  private flush(): void {
    this.flushScheduled = false;
    let batch = this.pending;
    let eventCount = 0;
    const cut = batch.findIndex((request) => (eventCount += request.events.length) > this.maxBatchEvents);
    if (cut > 0) {
      this.pending = batch.slice(cut);
      batch = batch.slice(0, cut);
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    } else {
      this.pending = [];
    }
    const outcomes: Array<{ result?: AppendResult; error?: unknown }> = [];
    let lastPosition = 0;
    try {
      this.db.transaction(() => {
        const recordedAt = this.now();
        for (const request of batch) {
          try {
            const result = this.applyAppend(request, recordedAt);
            if (result.appended > 0) lastPosition = result.position;
            this.stats.events += result.appended;
            outcomes.push({ result });
          } catch (error) {
            // Domain errors are raised before anything of this append is written, so the others stand.
            if (!(error instanceof WrongExpectedRevisionError || error instanceof InvalidEventError)) throw error;
            outcomes.push({ error });
          }
        }
      })();
    } catch (error) {
      for (const request of batch) request.reject(error);
      return;
    }
    this.stats.commits += 1;
    this.stats.appends += batch.length;
    batch.forEach((request, i) => {
      const outcome = outcomes[i];
      if (outcome.error) request.reject(outcome.error);
      else request.resolve(outcome.result!);
    });
    if (lastPosition > 0) this.appended.emit('appended', lastPosition);
  }

  private applyAppend(request: PendingAppend, recordedAt: number): AppendResult {
    const { stream, events, expected } = request;
    const existing = this.statements.streamByName.get(stream);
    const fresh: Array<{ event: NewEvent; id: Buffer }> = [];
    let knownPosition = 0;
    for (const event of events) {
      const id = uuidToBytes(event.id);
      const stored = this.statements.eventById.get(id);
      if (!stored) fresh.push({ event, id });
      else knownPosition = Math.max(knownPosition, stored.position);
    }
    if (fresh.length === 0) {
      // Every id is known: an idempotent replay of an earlier append.
      return { nextExpectedRevision: existing?.revision ?? -1, position: knownPosition, appended: 0 };
    }
    checkExpected(stream, expected, existing?.revision);
    let streamId: number;
    let revision: number;
    if (existing) {
      streamId = existing.stream_id;
      revision = existing.revision;
    } else {
      streamId = Number(this.statements.insertStream.run(stream, -1).lastInsertRowid);
      revision = -1;
    }
    let position = 0;
    for (const { event, id } of fresh) {
      revision += 1;
      position = Number(
        this.statements.insertEvent.run(
          streamId,
          revision,
          id,
          event.type,
          JSON.stringify(event.data ?? null),
          JSON.stringify(event.metadata),
          recordedAt,
        ).lastInsertRowid,
      );
    }
    this.statements.updateStreamRevision.run(revision, streamId);
    return { nextExpectedRevision: revision, position, appended: fresh.length };
  }

  private readAllSync(fromPosition: number, maxCount: number, filter?: EventFilter): RecordedEvent[] {
    if (!filter) return this.readPage(fromPosition, maxCount);
    // Filtered reads scan in pages so a selective filter still returns up to maxCount events; rows
    // are matched on their type and stream before their JSON is decoded.
    const result: RecordedEvent[] = [];
    let from = fromPosition;
    const pageSize = Math.min(Math.max(maxCount, 1000), 10_000);
    while (result.length < maxCount) {
      const rows = this.statements.readAll.all(from, pageSize);
      for (const row of rows) {
        if (!matchesTypeAndStream(row.type, row.name, filter)) continue;
        result.push(this.recent.get(row.position) ?? toRecorded(row));
        if (result.length >= maxCount) break;
      }
      if (rows.length < pageSize) break;
      from = rows[rows.length - 1].position + 1;
    }
    return result;
  }

  /**
   * Up to `maxCount` committed events from `fromPosition`. Every live subscriber (one per projection)
   * reads the same recent events, so they are parsed once and kept for the others; the objects are
   * shared and must not be changed by readers.
   */
  private readPage(fromPosition: number, maxCount: number): RecordedEvent[] {
    const page: RecordedEvent[] = [];
    let position = fromPosition;
    for (let cached = this.recent.get(position); cached && page.length < maxCount; cached = this.recent.get(position)) {
      page.push(cached);
      position = cached.position + 1;
    }
    if (page.length === maxCount) return page;
    for (const row of this.statements.readAll.all(position, maxCount - page.length)) {
      const event = toRecorded(row);
      page.push(event);
      if (maxCount <= RECENT_READS) this.remember(event);
    }
    return page;
  }

  private remember(event: RecordedEvent): void {
    if (this.recent.has(event.position)) return;
    this.recent.set(event.position, event);
    // Evict by the oldest position kept; deleting Map.keys().next() costs O(deleted) in V8.
    while (this.recent.size > RECENT_READS) {
      this.recent.delete(this.oldestRecent);
      this.oldestRecent += 1;
    }
    if (this.recent.size === 1) this.oldestRecent = event.position;
  }


  private headSync(): number {
    return this.statements.head.get()?.head ?? 0;
  }

  private assertOpen(): void {
    if (this.closed) throw new EventStoreUnavailableError('The event store is closed');
  }
}

function checkExpected(stream: string, expected: ExpectedRevision, actual: number | undefined): void {
  const ok =
    expected === 'any' ||
    (expected === 'no_stream' && actual === undefined) ||
    (expected === 'stream_exists' && actual !== undefined) ||
    (typeof expected === 'number' && actual === expected);
  if (!ok) throw new WrongExpectedRevisionError(stream, String(expected), actual ?? 'no_stream');
}


function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: bytesToUuid(row.event_id),
    type: row.type,
    data: JSON.parse(row.data),
    metadata: JSON.parse(row.metadata),
    stream: row.name,
    revision: row.revision,
    position: row.position,
    recordedAt: new Date(row.recorded_at).toISOString(),
  };
}
