/**
 * Events a projection could not handle, set aside so that one event does not stop the projection for
 * every person behind it. An event is parked only when the projection's own code failed on it
 * (`handle` or `apply`, the failure attributed to that event) PARK_AFTER_ATTEMPTS times in a row; a
 * failure of the log or the state database, which says nothing about the event, is retried for as
 * long as it lasts. Parking is recorded twice: a row in the state database, which the
 * runner reads at start to keep skipping the event, and a `ProjectionEventParked` event in the log
 * (stream `operations-{workspace}`), for the audit and the analytics export. After a fix, a replay
 * (`ProjectionRunner.replayParked`) handles them again one by one, and a rebuild of the projection
 * handles them with the rest of the log and forgets them.
 */
import type { EventStore, NewEvent, RecordedEvent } from '../event-store/event-store.port';
import { EventStoreError, InvalidEventError } from '../event-store/errors';
import { derivedEventId } from '../shared/ids';
import { prepared } from '../state/prepared';
import type { StateDb } from '../state/state-db';

export const PROJECTION_EVENT_PARKED = 'ProjectionEventParked';
export const PROJECTION_EVENT_REPLAYED = 'ProjectionEventReplayed';
/** Failures in a row, of the projection's own code on one event, before that event is parked. */
export const PARK_AFTER_ATTEMPTS = 5;

export function operationsStream(workspace: string): string {
  return `operations-${workspace}`;
}

/** `ProjectionEventParked`: `projection` no longer handles the event at `position`. */
export interface ProjectionEventParked {
  projection: string;
  position: number;
  eventId: string;
  stream: string;
  type: string;
  attempts: number;
  /** The last failure's message (at most 2,000 characters). */
  error: string;
}

/** `ProjectionEventReplayed`: `projection` was asked to handle a parked event again (`ProjectionRunner.replayParked`). */
export interface ProjectionEventReplayed extends Omit<ProjectionEventParked, 'error'> {
  /** `handled`: no longer parked; `failed`: still parked, with one more attempt. */
  outcome: 'handled' | 'failed';
  /** The attempts before this one (those that parked it and failed replays). */
  attempts: number;
  /** Why it failed again. */
  error?: string;
}

/** A failure of a projection's `handle` or `apply` on one event. */
export class EventHandlingError extends Error {
  constructor(
    readonly event: RecordedEvent,
    readonly projection: string,
    override readonly cause: unknown,
  ) {
    super(`Projection ${projection} failed on event ${event.id} (${event.type}, position ${event.position}): ${messageOf(cause)}`);
    this.name = 'EventHandlingError';
  }
}

/** Wraps a failure of the projection's code on `event`, unless it is one already (a partition's chain passes it on). */
export function attributed(error: unknown, event: RecordedEvent, projection: string): EventHandlingError {
  return error instanceof EventHandlingError ? error : new EventHandlingError(event, projection, error);
}

/**
 * Whether the failure may be the event's fault. Not when the log or the state database failed (or a
 * network call to them): those pass, and parking events meanwhile would drop people's history. The
 * log's errors (unavailable, a revision conflict, KurrentDB failing) are not, except an append it
 * refuses as invalid, which the same event would make again.
 */
export function isEventFault(error: EventHandlingError): boolean {
  const cause = error.cause as { name?: unknown; code?: unknown } | undefined;
  if (cause instanceof EventStoreError && !(cause instanceof InvalidEventError)) return false;
  if (cause?.name === 'SqliteError') return false;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  return !(code.startsWith('SQLITE_') || SYSTEM_CODES.has(code));
}

const SYSTEM_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOSPC', 'EIO', 'EMFILE']);

/** Created by the runner (and by `park`); the functions below read and write it. */
export const PARKED_EVENTS_TABLE = `CREATE TABLE IF NOT EXISTS projection_parked (
  projection TEXT NOT NULL, position INTEGER NOT NULL, event_id TEXT NOT NULL, stream TEXT NOT NULL, type TEXT NOT NULL,
  attempts INTEGER NOT NULL, error TEXT NOT NULL, parked_at INTEGER NOT NULL,
  PRIMARY KEY (projection, position)) WITHOUT ROWID`;

export interface ParkedEventRow {
  projection: string;
  position: number;
  event_id: string;
  stream: string;
  type: string;
  attempts: number;
  error: string;
  parked_at: number;
}

/** The positions a projection skips. */
export function parkedPositions(db: StateDb, projection: string): Set<number> {
  const rows = prepared<[string], { position: number }>(db, 'SELECT position FROM projection_parked WHERE projection = ?').all(projection);
  return new Set(rows.map((row) => row.position));
}

/** Every parked event, oldest first. */
export function listParked(db: StateDb): ParkedEventRow[] {
  return prepared<[], ParkedEventRow>(db, 'SELECT * FROM projection_parked ORDER BY parked_at, projection, position').all();
}

/** The events of these streams that some projection parked, in log order. */
export function parkedInStreams(db: StateDb, streams: readonly string[]): ParkedEventRow[] {
  if (streams.length === 0) return [];
  const select = prepared<[string], ParkedEventRow>(db, 'SELECT * FROM projection_parked WHERE stream = ? ORDER BY position, projection');
  return streams.flatMap((stream) => select.all(stream)).sort((a, b) => a.position - b.position || a.projection.localeCompare(b.projection));
}

/** The parked events of a projection, in log order. */
export function parkedOf(db: StateDb, projection: string): ParkedEventRow[] {
  return prepared<[string], ParkedEventRow>(db, 'SELECT * FROM projection_parked WHERE projection = ? ORDER BY position').all(projection);
}

/** Handled at last (a replay): the event is no longer skipped. Runs inside the replay's state transaction. */
export function unpark(db: StateDb, projection: string, position: number): void {
  prepared<[string, number]>(db, 'DELETE FROM projection_parked WHERE projection = ? AND position = ?').run(projection, position);
}

/** A replay failed too: the event stays parked, with one more attempt and the new error. */
export function noteFailedReplay(db: StateDb, projection: string, position: number, error: unknown): void {
  prepared<[string, string, number]>(db, 'UPDATE projection_parked SET attempts = attempts + 1, error = ? WHERE projection = ? AND position = ?').run(
    messageOf(error).slice(0, 2000),
    projection,
    position,
  );
}

/** A parked event as the HTTP API shows it (the operations list, a person's history). */
export interface ParkedEventView extends ProjectionEventParked {
  parkedAt: string;
}

export function parkedEventView(row: ParkedEventRow): ParkedEventView {
  return {
    projection: row.projection,
    position: row.position,
    eventId: row.event_id,
    stream: row.stream,
    type: row.type,
    attempts: row.attempts,
    error: row.error,
    parkedAt: new Date(row.parked_at).toISOString(),
  };
}

/**
 * The `ProjectionEventReplayed` of one replay of a parked event. Its id is derived from the event, the
 * projection and the attempt, so a replay repeated after a crash records once, and each later replay
 * records anew.
 */
export function replayRecord(row: ParkedEventRow, event: RecordedEvent, outcome: 'handled' | 'failed', now: Date, error?: unknown): OperationsEvent<ProjectionEventReplayed> {
  const data: ProjectionEventReplayed = {
    projection: row.projection,
    position: row.position,
    eventId: row.event_id,
    stream: row.stream,
    type: row.type,
    outcome,
    attempts: row.attempts,
    ...(error === undefined ? {} : { error: messageOf(error).slice(0, 2000) }),
  };
  return operationsEvent(event, derivedEventId(event.id, 'replayed', row.projection, row.attempts), PROJECTION_EVENT_REPLAYED, data, now);
}

/** An event of the operations stream about `cause`: in its workspace, caused by it, in its correlation. */
interface OperationsEvent<Data> {
  stream: string;
  event: NewEvent<string, Data>;
}

function operationsEvent<Data>(cause: RecordedEvent, id: string, type: string, data: Data, now: Date): OperationsEvent<Data> {
  const workspace = typeof cause.metadata?.workspace === 'string' ? cause.metadata.workspace : 'default';
  const at = now.toISOString();
  const metadata = { workspace, causationId: cause.id, correlationId: cause.metadata?.correlationId ?? cause.id, occurredAt: at, receivedAt: at, schemaVersion: 1 };
  return { stream: operationsStream(workspace), event: { id, type, data, metadata } };
}

/** A rebuild handles them again. */
export function forgetParked(db: StateDb, projection: string): void {
  prepared<[string]>(db, 'DELETE FROM projection_parked WHERE projection = ?').run(projection);
}

/**
 * Parks the event for the projection: the event in the log first (its id derived from the event and
 * the projection, so parking again after a crash appends nothing), then the row the runner skips by.
 */
export async function park(store: EventStore, db: StateDb, failure: EventHandlingError, attempts: number, now: Date): Promise<ProjectionEventParked> {
  const { event, projection } = failure;
  const parked: ProjectionEventParked = {
    projection,
    position: event.position,
    eventId: event.id,
    stream: event.stream,
    type: event.type,
    attempts,
    error: messageOf(failure.cause).slice(0, 2000),
  };
  const record = operationsEvent(event, derivedEventId(event.id, 'parked', projection), PROJECTION_EVENT_PARKED, parked, now);
  await store.append(record.stream, [record.event]);
  db.exec(PARKED_EVENTS_TABLE);
  prepared<[string, number, string, string, string, number, string, number]>(
    db,
    `INSERT OR REPLACE INTO projection_parked (projection, position, event_id, stream, type, attempts, error, parked_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(projection, event.position, event.id, event.stream, event.type, attempts, parked.error, now.getTime());
  return parked;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
