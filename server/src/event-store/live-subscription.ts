/**
 * A catch-up subscription built from two primitives: reading a page of the log after a position,
 * and being told that something was appended. It reads pages until it reaches the head, then waits
 * for the next append. Because it always reads from its own last position, an event appended while
 * it was reading is picked up by the next page: nothing is missed, nothing is reordered.
 */
import type { RecordedEvent, Subscription } from './event-store.port';

export interface LiveSubscriptionSource {
  afterPosition: number;
  /**
   * Scans up to `maxCount` events from `fromPosition` (inclusive) and returns those that pass the
   * filter, the position of the last event scanned (so filtered-out events still advance the
   * checkpoint) and whether the scan was cut short by `maxCount` (more may follow at once).
   */
  readPage(fromPosition: number, maxCount: number): Promise<LogPage>;
  /** Registers a wake-up call; returns the function that unregisters it. */
  onAppended(listener: () => void): () => void;
  pageSize?: number;
}

export interface LogPage {
  events: RecordedEvent[];
  lastPosition?: number;
  full: boolean;
}

export function liveSubscription(source: LiveSubscriptionSource): Subscription {
  const pageSize = source.pageSize ?? 1000;
  let checkpoint = source.afterPosition;
  let stopped = false;
  let wake: (() => void) | undefined;
  let appendedSinceRead = false;
  const unsubscribe = source.onAppended(() => {
    appendedSinceRead = true;
    wake?.();
  });

  // The page being handed out; `takeReady` may take the rest of it while the iterator is suspended.
  let page: LogPage = { events: [], full: false };
  let next = 0;

  async function* iterate(): AsyncGenerator<RecordedEvent> {
    try {
      while (!stopped) {
        appendedSinceRead = false;
        page = await source.readPage(checkpoint + 1, pageSize);
        next = 0;
        while (next < page.events.length) {
          if (stopped) return;
          const event = page.events[next++];
          checkpoint = event.position;
          yield event;
        }
        if (page.lastPosition !== undefined) checkpoint = Math.max(checkpoint, page.lastPosition);
        if (page.full) continue;
        if (stopped) return;
        // Sleep until the next append, unless one happened while we were reading.
        if (!appendedSinceRead) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      unsubscribe();
    }
  }

  const iterator = iterate();
  return {
    [Symbol.asyncIterator]: () => iterator,
    takeReady(maxCount: number): RecordedEvent[] {
      if (stopped) return [];
      const ready = page.events.slice(next, next + maxCount);
      next += ready.length;
      if (ready.length > 0) checkpoint = ready[ready.length - 1].position;
      return ready;
    },
    async stop() {
      stopped = true;
      wake?.();
      await iterator.return(undefined);
    },
  };
}
