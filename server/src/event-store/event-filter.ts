import type { EventFilter, RecordedEvent } from './event-store.port';

export function matches(event: RecordedEvent, filter?: EventFilter): boolean {
  return matchesTypeAndStream(event.type, event.stream, filter);
}

/** The same test on a stored row's columns, so a reader can skip rows before decoding them. */
export function matchesTypeAndStream(type: string, stream: string, filter?: EventFilter): boolean {
  if (!filter) return true;
  if (filter.eventTypes && !filter.eventTypes.includes(type)) return false;
  if (filter.streamPrefixes && !filter.streamPrefixes.some((prefix) => stream.startsWith(prefix))) return false;
  return true;
}
