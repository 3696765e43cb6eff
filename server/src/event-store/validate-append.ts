import { isUuid } from '../shared/ids';
import { InvalidEventError } from './errors';
import type { ExpectedRevision, NewEvent } from './event-store.port';

/**
 * Input checks every adapter makes before writing anything, so both behave alike. Names starting
 * with '$' are KurrentDB's system namespace: such events would never show up in reads of the whole
 * log there, so they are refused everywhere.
 */
export function validateAppend(stream: string, events: NewEvent[]): void {
  if (typeof stream !== 'string' || stream.length === 0) throw new InvalidEventError('Stream name must be a non-empty string');
  if (stream.startsWith('$')) throw new InvalidEventError(`Stream ${stream} is a system stream name ('$' prefix)`);
  if (!Array.isArray(events) || events.length === 0) throw new InvalidEventError('An append needs at least one event');
  // One event (every tracking call) has nothing to be a duplicate of: no set per append.
  const ids = events.length > 1 ? new Set<string>() : undefined;
  for (const event of events) {
    if (typeof event.id !== 'string' || !isUuid(event.id)) throw new InvalidEventError(`Event id ${event.id} is not a UUID`);
    if (ids) {
      const id = event.id.toLowerCase();
      if (ids.has(id)) throw new InvalidEventError(`Event id ${event.id} appears twice in one append`);
      ids.add(id);
    }
    if (typeof event.type !== 'string' || event.type.length === 0) throw new InvalidEventError('Event type must be a non-empty string');
    if (event.type.startsWith('$')) throw new InvalidEventError(`Event type ${event.type} is reserved for the server ('$' prefix)`);
    if (!event.metadata || typeof event.metadata.workspace !== 'string') {
      throw new InvalidEventError('Event metadata must name its workspace');
    }
  }
}

export function validateExpectedRevision(expected: ExpectedRevision): void {
  const named = expected === 'any' || expected === 'no_stream' || expected === 'stream_exists';
  if (!named && !(Number.isSafeInteger(expected) && (expected as number) >= 0)) {
    throw new InvalidEventError(`Expected revision must be 'any', 'no_stream', 'stream_exists' or a revision >= 0, got ${String(expected)}`);
  }
}
