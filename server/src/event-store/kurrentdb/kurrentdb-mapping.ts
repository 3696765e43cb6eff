/**
 * Pure translations between Herald's event-log port and @kurrent/kurrentdb-client: expectations,
 * positions, filters, recorded events and errors. Kept apart from the adapter so they are unit
 * tested without a server.
 */
import {
  ANY,
  type AllStreamResolvedEvent,
  type AppendStreamState,
  ErrorType,
  type Filter,
  NO_STREAM,
  type Position,
  type ResolvedEvent,
  STREAM_EXISTS,
  eventTypeFilter,
  excludeSystemEvents,
  streamNameFilter,
} from '@kurrent/kurrentdb-client';
import { EventStoreError, EventStoreUnavailableError, InvalidEventError, WrongExpectedRevisionError } from '../errors';
import type { EventFilter, EventMetadata, ExpectedRevision, RecordedEvent } from '../event-store.port';

const LEGACY_PROTOCOL = /^esdb(\+discover)?:\/\//i;
const ACCEPTED_PROTOCOL = /^(kurrentdb|kurrent|kdb)(\+discover)?:\/\//i;

/**
 * Accepts `kurrentdb://`, `kurrent://`, `kdb://` and the legacy `esdb://` (each with `+discover`).
 * `esdb` is rewritten to `kurrentdb`, which means the same to the client and spares the deprecation
 * warning it prints on every connection.
 */
export function normalizeConnectionString(connectionString: string): string {
  const trimmed = connectionString.trim();
  const normalized = trimmed.replace(LEGACY_PROTOCOL, (_, discover: string | undefined) => `kurrentdb${discover ?? ''}://`);
  if (!ACCEPTED_PROTOCOL.test(normalized)) {
    throw new EventStoreError(
      `Not a KurrentDB connection string: ${redact(trimmed)} (expected kurrentdb://, kdb:// or esdb://)`,
    );
  }
  return normalized;
}

function redact(connectionString: string): string {
  return connectionString.replace(/\/\/[^@/]*@/, '//***@');
}

export function toStreamState(expected: ExpectedRevision = 'any'): AppendStreamState {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      if (typeof expected !== 'number' || !Number.isSafeInteger(expected) || expected < 0) {
        throw new InvalidEventError(`Expected revision must be 'any', 'no_stream', 'stream_exists' or a revision >= 0, got ${String(expected)}`);
      }
      return BigInt(expected);
  }
}

/** A stream revision for a read; revisions are 0-based and must be non-negative integers. */
export function toRevision(revision: number): bigint {
  if (!Number.isSafeInteger(revision) || revision < 0) throw new InvalidEventError(`Revision must be an integer >= 0, got ${revision}`);
  return BigInt(revision);
}

/**
 * Herald positions are KurrentDB commit positions. Every event appended through the gRPC API since
 * EventStoreDB 20 is its own commit (commit position = prepare position), so the number alone is
 * a full position. Events of legacy explicit transactions (commit != prepare) are not supported.
 */
export function toPosition(position: number): Position {
  return { commit: BigInt(position), prepare: BigInt(position) };
}

export function toSafeNumber(value: bigint, what: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) throw new EventStoreError(`${what} ${value} does not fit in a JavaScript number`);
  return number;
}

/** `$`-prefixed types and streams belong to the server (stats, metadata, projections, links). */
export function isSystemEvent(event: Pick<RecordedEvent, 'type' | 'stream'>): boolean {
  return event.type.startsWith('$') || event.stream.startsWith('$');
}

/** True when the filter can match no event at all (an empty list of prefixes or types). */
export function matchesNothing(filter?: EventFilter): boolean {
  return filter?.streamPrefixes?.length === 0 || filter?.eventTypes?.length === 0;
}

/**
 * The server applies one filter per read: by stream prefix when there is one, else by event type
 * (as prefixes: exact matching and the other criterion are re-checked on the client with
 * `matches`), else it only drops system event types. System streams are always dropped client-side.
 */
export function toServerFilter(filter?: EventFilter): Filter {
  if (filter?.streamPrefixes && filter.streamPrefixes.length > 0) return streamNameFilter({ prefixes: filter.streamPrefixes });
  if (filter?.eventTypes && filter.eventTypes.length > 0) return eventTypeFilter({ prefixes: filter.eventTypes });
  return excludeSystemEvents();
}

/** Same checks as the embedded store, made before anything is sent to the server. */

/**
 * Maps a resolved event from a stream read, an `$all` read or a subscription. Returns undefined
 * for a link whose target is gone (no `event`).
 */
export function toRecordedEvent(resolved: ResolvedEvent | AllStreamResolvedEvent): RecordedEvent | undefined {
  const event = resolved.event;
  if (!event) return undefined;
  const commit = event.position?.commit ?? resolved.commitPosition;
  return {
    id: event.id,
    type: event.type,
    data: event.data,
    // Herald always writes a JSON object; anything else comes from another writer.
    metadata: (isPlainObject(event.metadata) ? event.metadata : {}) as EventMetadata,
    stream: event.streamId,
    revision: toSafeNumber(event.revision, 'Revision'),
    // Stream reads carry positions from KurrentDB/EventStoreDB 22.6 on; -1 marks an older server.
    position: commit === undefined ? -1 : toSafeNumber(commit, 'Position'),
    recordedAt: toIso(event.created),
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function toIso(created: Date): string {
  const time = created instanceof Date ? created.getTime() : Number.NaN;
  return new Date(Number.isNaN(time) ? 0 : time).toISOString();
}

const UNAVAILABLE_TYPES = new Set<string>([
  ErrorType.UNAVAILABLE,
  ErrorType.DEADLINE_EXCEEDED,
  ErrorType.TIMEOUT,
  ErrorType.CANCELLED,
  ErrorType.NOT_LEADER,
]);
const INVALID_INPUT_TYPES = new Set<string>([
  ErrorType.INVALID_ARGUMENT,
  ErrorType.MAXIMUM_APPEND_SIZE_EXCEEDED,
  ErrorType.APPEND_RECORD_SIZE_EXCEEDED,
  ErrorType.TRANSACTION_MAX_SIZE_EXCEEDED,
  ErrorType.MISSING_REQUIRED_METADATA_PROPERTY,
]);
/** gRPC status codes of a raw ServiceError that mean "try again later": CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE. */
const UNAVAILABLE_GRPC_CODES = new Set<number>([1, 4, 14]);
const UNAVAILABLE_SOCKET_CODES = new Set<string>(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

export interface ErrorContext {
  stream?: string;
  expected?: ExpectedRevision;
}

/**
 * Translates a client error into the port's typed errors. Errors with no counterpart (access
 * denied, stream deleted, ...) are returned unchanged.
 */
export function toEventStoreError(error: unknown, context: ErrorContext = {}): Error {
  if (error instanceof EventStoreError) return error;
  if (!(error instanceof Error)) return new EventStoreError(`KurrentDB failed: ${String(error)}`);
  const { type, code } = error as Error & { type?: unknown; code?: unknown };
  if (type === ErrorType.WRONG_EXPECTED_VERSION) {
    const details = error as Error & { streamName?: string; expectedState?: unknown; actualState?: unknown };
    const expected = context.expected !== undefined ? String(context.expected) : String(details.expectedState);
    return withCause(new WrongExpectedRevisionError(context.stream ?? details.streamName ?? '?', expected, toActual(details.actualState)), error);
  }
  if (
    (typeof type === 'string' && UNAVAILABLE_TYPES.has(type)) ||
    (typeof code === 'number' && type === undefined && UNAVAILABLE_GRPC_CODES.has(code)) ||
    (typeof code === 'string' && UNAVAILABLE_SOCKET_CODES.has(code))
  ) {
    return withCause(new EventStoreUnavailableError(`KurrentDB is unavailable: ${error.message || error.name}`), error);
  }
  if (typeof type === 'string' && INVALID_INPUT_TYPES.has(type)) {
    return withCause(new InvalidEventError(`KurrentDB rejected the request: ${error.message || error.name}`), error);
  }
  return error;
}

function toActual(actual: unknown): number | 'no_stream' {
  if (typeof actual === 'bigint' && actual >= 0n) return Number(actual);
  if (typeof actual === 'number' && actual >= 0) return actual;
  return 'no_stream';
}

function withCause<E extends Error>(error: E, cause: unknown): E {
  error.cause = cause;
  return error;
}

/** Where a forwards read of `$all` starts, and which events before `min` it drops. */
export interface ReadStart {
  from: 'start' | Position;
  min: number;
}

export interface ReadPlan extends ReadStart {
  /** Tried when the server refuses `from` as not being a record's position. */
  fallback?: ReadStart;
}

/**
 * KurrentDB can only start reading `$all` at a record's position, but callers pass "last position
 * + 1" to read the next page (as the projection runner does). So the read starts at the position
 * itself when it is a known record, at the one before it when that is a known record (and the
 * event there is dropped), and otherwise tries the position, then the one before.
 */
export function planReadStart(fromPosition: number, isKnown: (position: number) => boolean): ReadPlan {
  if (!Number.isSafeInteger(fromPosition)) throw new InvalidEventError(`Position must be an integer, got ${fromPosition}`);
  if (fromPosition <= 0) return { from: 'start', min: 0 };
  if (fromPosition === 1) return { from: 'start', min: 1 };
  if (isKnown(fromPosition)) return { from: toPosition(fromPosition), min: fromPosition };
  if (isKnown(fromPosition - 1)) return { from: toPosition(fromPosition - 1), min: fromPosition };
  return {
    from: toPosition(fromPosition),
    min: fromPosition,
    fallback: { from: toPosition(fromPosition - 1), min: fromPosition },
  };
}

/** A bounded set of positions known to be records, oldest forgotten first. */
export class RecentPositions {
  private readonly positions = new Set<number>();

  constructor(private readonly capacity = 65_536) {}

  add(position: number): void {
    if (position <= 0 || this.positions.has(position)) return;
    this.positions.add(position);
    if (this.positions.size > this.capacity) {
      const oldest = this.positions.values().next().value;
      if (oldest !== undefined) this.positions.delete(oldest);
    }
  }

  has(position: number): boolean {
    return this.positions.has(position);
  }

  get size(): number {
    return this.positions.size;
  }
}
