/**
 * The event log port. Every adapter (embedded SQLite, KurrentDB) implements exactly this and is
 * checked by the same contract suite (`event-store.contract.ts`).
 *
 * Positions are global and strictly increasing in commit order. Revisions are per stream and start
 * at 0, as in KurrentDB: a stream whose last event has revision 4 holds 5 events.
 */
import type { DomainEventMetadata } from '@herald/projections';

/** What the writer expects the stream to look like before its append. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

/** The envelope's metadata, shared with the pure domain (`@herald/projections`, docs/events.md). */
export type EventMetadata = DomainEventMetadata;

export interface NewEvent<Type extends string = string, Data = unknown> {
  /** A UUID. Derived from the cause where the event is a reaction, so a replay appends nothing. */
  id: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
}

export interface RecordedEvent<Type extends string = string, Data = unknown> extends NewEvent<Type, Data> {
  stream: string;
  revision: number;
  position: number;
  /** When the store committed it (ISO 8601). */
  recordedAt: string;
}

export interface AppendOptions {
  expectedRevision?: ExpectedRevision;
}

export interface AppendResult {
  /** Revision of the stream's last event after the append; what to pass as the next expectation. */
  nextExpectedRevision: number;
  /** Global position of the last event written, or of the existing one when nothing was new. */
  position: number;
  /** How many events were actually written (0 when every id was already in the log). */
  appended: number;
}

export type Direction = 'forwards' | 'backwards';

export interface ReadStreamOptions {
  direction?: Direction;
  /** Inclusive. Defaults to the first event (forwards) or the last (backwards). */
  fromRevision?: number;
  maxCount?: number;
}

export interface EventFilter {
  /** Keep events whose stream name starts with one of these. */
  streamPrefixes?: string[];
  /** Keep events of exactly these types. */
  eventTypes?: string[];
}

export interface ReadAllOptions {
  /** Inclusive; 0 (the default) is the start of the log. */
  fromPosition?: number;
  maxCount?: number;
  filter?: EventFilter;
}

export interface SubscribeOptions {
  /** Exclusive: the checkpoint, i.e. the position of the last event already handled. 0 = from the start. */
  afterPosition?: number;
  filter?: EventFilter;
  /**
   * The events whose data and metadata the subscriber reads (with a `filter`, those it is handed;
   * otherwise all when left out). It is handed the others all the same, in order, but an adapter may
   * decode their data and metadata only when first read (a runner follows the whole log to move a
   * projection's checkpoint, and reads only the events its filter keeps).
   */
  reads?: EventFilter;
}

/** A live catch-up subscription: first the history after the checkpoint, then every new event, in order. */
export interface Subscription extends AsyncIterable<RecordedEvent> {
  /** Ends the iteration; pending `next()` calls resolve as done. */
  stop(): Promise<void>;
  /**
   * The events already read that the iterator would yield next, up to `maxCount`, taken at once
   * without waiting (empty when none are ready). Call it only between `next()` calls, once the
   * previous one has resolved. Optional: adapters that cannot tell leave it out.
   */
  takeReady?(maxCount: number): RecordedEvent[];
}

export interface EventStore {
  /** Which adapter this is, for /health and logs. */
  readonly kind: 'sqlite' | 'kurrentdb';
  /**
   * Appends atomically: all events or none. Resolves only once the append is durable. An event whose
   * id is already stored is not written again (the append is a no-op when all ids are known).
   * Throws `WrongExpectedRevisionError` when the expectation does not hold.
   */
  append(stream: string, events: NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  /** Events of one stream; an unknown stream reads as empty. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** Events of the whole log in global order. */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** Position of the last event in the log, 0 when empty. */
  headPosition(): Promise<number>;
  subscribeToAll(options?: SubscribeOptions): Subscription;
  close(): Promise<void>;
  /**
   * Optional: the log as a local file that another thread may open and read by itself (the embedded
   * SQLite log), or undefined when it is not one. Adapters without it (KurrentDB, ':memory:' logs)
   * are read through `subscribeToAll` only.
   */
  localLogFile?(): LocalLogFile | undefined;
}

/** A log file a worker thread can follow with its own read-only connection. */
export interface LocalLogFile {
  readonly path: string;
  /** Calls `listener` after each durable append (with the new head); returns the function that unregisters it. */
  onAppended(listener: (head: number) => void): () => void;
}

export const EVENT_STORE = Symbol('EventStore');
