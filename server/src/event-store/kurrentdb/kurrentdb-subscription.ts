/**
 * Adapts the client's catch-up subscription to `$all` (a Node Readable of resolved events) to the
 * port's Subscription. The server does the catch-up-then-live hand-over and delivers each event once,
 * in commit order, after the (exclusive) start position; this side drops system events, applies the
 * part of the filter the server did not, and makes `stop()` end the iteration even while it waits.
 */
import type { AllStreamResolvedEvent } from '@kurrent/kurrentdb-client';
import { EventStoreUnavailableError } from '../errors';
import { matches } from '../event-filter';
import type { EventFilter, RecordedEvent, Subscription } from '../event-store.port';
import { isSystemEvent, toEventStoreError, toRecordedEvent } from './kurrentdb-mapping';

/** What the adapter needs of the client's `AllStreamSubscription` (a Readable). */
export interface SubscriptionSource extends AsyncIterable<unknown> {
  on(event: 'error', listener: (error: Error) => void): unknown;
  destroy(): unknown;
  unsubscribe(): Promise<void>;
}

export interface NativeSubscriptionOptions {
  afterPosition: number;
  filter?: EventFilter;
  /** Told the position of every event the server delivered, matching or not. */
  onPosition?: (position: number) => void;
  /** Called once when the subscription has released its server stream. */
  onClose?: () => void;
}

export function nativeSubscription(source: SubscriptionSource, options: NativeSubscriptionOptions): Subscription {
  let stopped = false;
  let released = false;
  // The client emits connection errors on the stream, also before anyone iterates or after the
  // iteration ended; without a listener they would crash the process. Keep the first one to raise
  // it from an iteration that starts late; the listener stays for the stream's lifetime.
  let earlyError: unknown;
  const onError = (error: unknown) => {
    earlyError ??= error;
  };
  source.on('error', onError);

  const release = () => {
    if (released) return;
    released = true;
    void source.unsubscribe().catch(() => undefined);
    source.destroy();
    options.onClose?.();
  };

  async function* iterate(): AsyncGenerator<RecordedEvent> {
    let last = options.afterPosition;
    try {
      if (earlyError !== undefined) throw earlyError;
      for await (const resolved of source as AsyncIterable<AllStreamResolvedEvent>) {
        if (stopped) return;
        const event = toRecordedEvent(resolved);
        if (!event || event.position <= last) continue;
        last = event.position;
        options.onPosition?.(event.position);
        if (isSystemEvent(event) || !matches(event, options.filter)) continue;
        yield event;
      }
      if (!stopped) throw new EventStoreUnavailableError('The KurrentDB subscription ended unexpectedly');
    } catch (error) {
      if (stopped) return;
      throw toEventStoreError(error);
    } finally {
      release();
    }
  }

  const iterator = iterate();
  return {
    [Symbol.asyncIterator]: () => iterator,
    async stop() {
      stopped = true;
      // Destroying the source settles a pending read, so a waiting `next()` resolves as done.
      release();
      await iterator.return(undefined);
    },
  };
}

/** A subscription whose filter can match nothing: it holds no server stream and only waits to be stopped. */
export function idleSubscription(options: { onClose?: () => void } = {}): Subscription {
  let wake: (() => void) | undefined;
  let stopped = false;
  async function* iterate(): AsyncGenerator<RecordedEvent> {
    if (!stopped) await new Promise<void>((resolve) => (wake = resolve));
  }
  const iterator = iterate();
  return {
    [Symbol.asyncIterator]: () => iterator,
    async stop() {
      stopped = true;
      wake?.();
      await iterator.return(undefined);
      options.onClose?.();
    },
  };
}
