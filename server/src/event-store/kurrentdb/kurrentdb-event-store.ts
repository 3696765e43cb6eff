/**
 * The event log on KurrentDB (or EventStoreDB 22.6+) through @kurrent/kurrentdb-client. Streams,
 * revisions and positions are KurrentDB's own: a Herald position is the commit position of the
 * event in `$all`. Appends go over gRPC, reads through the client's native bridge, subscriptions
 * are the server's catch-up subscriptions to `$all`.
 *
 * Differences from the embedded store, all inherent to the server:
 * - Idempotency by event id is guaranteed when an expected revision is given; with 'any' the
 *   server only recognises ids it still holds in its recent-ids cache.
 * - An append mixing known and new ids is rejected (WrongExpectedRevisionError) instead of writing
 *   only the new ones.
 * - System events (`$` types or streams) never appear in readAll, headPosition or subscriptions,
 *   and appending them is refused.
 */
import {
  type AllStreamResolvedEvent,
  BACKWARDS,
  END,
  type Filter,
  FORWARDS,
  type JSONType,
  KurrentDBClient,
  START,
  excludeSystemEvents,
  jsonEvent,
} from '@kurrent/kurrentdb-client';
import { EventStoreUnavailableError, InvalidEventError, WrongExpectedRevisionError } from '../errors';
import { validateAppend } from '../validate-append';
import { matches } from '../event-filter';
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SubscribeOptions,
  Subscription,
} from '../event-store.port';
import {
  type ReadStart,
  RecentPositions,
  isSystemEvent,
  matchesNothing,
  normalizeConnectionString,
  planReadStart,
  toEventStoreError,
  toPosition,
  toRecordedEvent,
  toRevision,
  toSafeNumber,
  toServerFilter,
  toStreamState,
} from './kurrentdb-mapping';
import { type SubscriptionSource, idleSubscription, nativeSubscription } from './kurrentdb-subscription';

/** The part of the client the adapter uses; tests may pass a stand-in. */
export type KurrentDbClient = Pick<KurrentDBClient, 'appendToStream' | 'readStream' | 'readAll' | 'subscribeToAll' | 'dispose'>;

export interface KurrentDbEventStoreOptions {
  /**
   * Upper bound on one append (ms), sent as its gRPC deadline and enforced on this side too. After
   * it the append rejects with EventStoreUnavailableError and its outcome is unknown: retry it with
   * the same event ids. Default 10 000, the client's own default deadline.
   */
  appendTimeoutMs?: number;
  /**
   * Reads the head of `$all` before each append so that an idempotent replay reports `appended: 0`
   * (the server answers a replay exactly like a fresh write, with the original position). Costs one
   * round trip per append. Without it `appended` is always `events.length`. Default true.
   */
  detectReplays?: boolean;
}

const NO_LIMIT = Number.MAX_SAFE_INTEGER;

export class KurrentDbEventStore implements EventStore {
  readonly kind = 'kurrentdb' as const;
  private readonly client: KurrentDbClient;
  private readonly appendTimeoutMs: number;
  private readonly detectReplays: boolean;
  /** Positions known to be records, so reads can start at "last position + 1" (see planReadStart). */
  private readonly knownPositions = new RecentPositions();
  /** Subscriptions still holding a server stream. */
  private readonly openSubscriptions = new Set<Subscription>();
  private closed = false;

  /** @param connection a `kurrentdb://`, `kdb://` or `esdb://` connection string, or a client. */
  constructor(connection: string | KurrentDbClient, options: KurrentDbEventStoreOptions = {}) {
    this.client = typeof connection === 'string' ? KurrentDBClient.connectionString(normalizeConnectionString(connection)) : connection;
    this.appendTimeoutMs = options.appendTimeoutMs ?? 10_000;
    this.detectReplays = options.detectReplays ?? true;
  }

  async append(stream: string, events: NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    this.assertOpen();
    validateAppend(stream, events);
    const expected = options.expectedRevision ?? 'any';
    const streamState = toStreamState(expected);
    const proposed = events.map((event) =>
      jsonEvent({
        id: event.id.toLowerCase(),
        type: event.type,
        data: (event.data ?? null) as JSONType,
        metadata: event.metadata as unknown as JSONType,
      }),
    );
    try {
      const headBefore = this.detectReplays ? await this.rawHead() : undefined;
      const result = await withTimeout(
        this.client.appendToStream(stream, proposed, { streamState, deadline: this.appendTimeoutMs }),
        this.appendTimeoutMs + 1_000,
        `Append to ${stream} got no answer within ${this.appendTimeoutMs} ms; its outcome is unknown`,
      );
      const nextExpectedRevision = toSafeNumber(result.nextExpectedRevision, 'Revision');
      if (!result.success) {
        // Only when the connection string sets throwOnAppendFailure=false.
        throw new WrongExpectedRevisionError(stream, String(expected), nextExpectedRevision < 0 ? 'no_stream' : nextExpectedRevision);
      }
      const position = result.position
        ? toSafeNumber(result.position.commit, 'Position')
        : await this.positionOfRevision(stream, nextExpectedRevision);
      this.knownPositions.add(position);
      const replayed = headBefore !== undefined && position <= headBefore;
      return { nextExpectedRevision, position, appended: replayed ? 0 : events.length };
    } catch (error) {
      throw toEventStoreError(error, { stream, expected });
    }
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    if (typeof stream !== 'string' || stream.length === 0) throw new InvalidEventError('Stream name must be a non-empty string');
    const maxCount = options.maxCount ?? NO_LIMIT;
    if (maxCount <= 0) return [];
    const backwards = options.direction === 'backwards';
    const fromRevision = options.fromRevision === undefined ? (backwards ? END : START) : toRevision(options.fromRevision);
    const events: RecordedEvent[] = [];
    try {
      for await (const resolved of this.client.readStream(stream, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision,
        maxCount,
      })) {
        const event = toRecordedEvent(resolved);
        if (event) events.push(event);
      }
    } catch (error) {
      if (isStreamNotFound(error)) return [];
      throw toEventStoreError(error, { stream });
    }
    return events;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const maxCount = options.maxCount ?? NO_LIMIT;
    const filter = options.filter;
    if (maxCount <= 0 || matchesNothing(filter)) return [];
    const serverFilter = toServerFilter(filter);
    // Only a type filter applied on top of a stream-prefix filter can drop many events client-side.
    const sparse = Boolean(filter?.streamPrefixes?.length && filter.eventTypes?.length);
    const result: RecordedEvent[] = [];
    const plan = planReadStart(options.fromPosition ?? 0, (p) => this.knownPositions.has(p));
    let start: ReadStart = plan;
    let fallback = plan.fallback;
    let fellBack = false;
    for (;;) {
      const remaining = maxCount - result.length;
      // One more than needed covers the event dropped when starting one position early.
      const pageSize = Math.min(NO_LIMIT, sparse ? Math.max(remaining + 1, 1_000) : remaining + 1);
      let page: { scanned: number; last?: number };
      try {
        page = await this.readAllPage(start, pageSize, serverFilter, (event) => {
          if (isSystemEvent(event) || !matches(event, filter)) return true;
          result.push(event);
          this.knownPositions.add(event.position);
          return result.length < maxCount;
        });
      } catch (error) {
        const mapped = toEventStoreError(error);
        // A refused start position fails before any event arrives; anything else is a real error.
        if (result.length > 0 || mapped instanceof EventStoreUnavailableError) throw mapped;
        if (fellBack) {
          throw Object.assign(
            new InvalidEventError(`Cannot read $all from position ${options.fromPosition}: neither it nor the one before is an event's position`),
            { cause: error },
          );
        }
        if (!fallback) throw mapped;
        start = fallback;
        fallback = undefined;
        fellBack = true;
        continue;
      }
      fallback = undefined;
      if (result.length >= maxCount || page.scanned < pageSize || page.last === undefined) return result;
      start = { from: toPosition(page.last), min: page.last + 1 };
    }
  }

  async headPosition(): Promise<number> {
    this.assertOpen();
    try {
      // The server drops system event types; the few system streams with other types are skipped
      // here, reading further back only when the newest events are all such.
      for (let count = 1; ; count *= 64) {
        let scanned = 0;
        for await (const resolved of this.client.readAll({
          direction: BACKWARDS,
          fromPosition: END,
          maxCount: count,
          filter: excludeSystemEvents(),
        })) {
          scanned += 1;
          const event = toRecordedEvent(resolved);
          if (event && !isSystemEvent(event)) {
            this.knownPositions.add(event.position);
            return event.position;
          }
        }
        if (scanned < count) return 0;
      }
    } catch (error) {
      throw toEventStoreError(error);
    }
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    const afterPosition = options.afterPosition ?? 0;
    if (this.closed) return failedSubscription(new EventStoreUnavailableError('The event store is closed'));
    if (matchesNothing(options.filter)) return this.register((onClose) => idleSubscription({ onClose }));
    let source: SubscriptionSource;
    try {
      source = this.client.subscribeToAll({
        // Exclusive on the server too: the subscription starts after this position.
        fromPosition: afterPosition > 0 ? toPosition(afterPosition) : START,
        filter: toServerFilter(options.filter),
      });
    } catch (error) {
      return failedSubscription(toEventStoreError(error));
    }
    return this.register((onClose) =>
      nativeSubscription(source, {
        afterPosition,
        filter: options.filter,
        onPosition: (position) => this.knownPositions.add(position),
        onClose,
      }),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Subscriptions first: the client's dispose cancels their streams without ending them.
    await Promise.allSettled([...this.openSubscriptions].map((subscription) => subscription.stop()));
    this.openSubscriptions.clear();
    await this.client.dispose();
  }

  /**
   * Reads one page of `$all` forwards, handing each event at or after `start.min` to `take` until
   * it returns false. Returns how many events the server sent and the last one's position.
   */
  private async readAllPage(
    start: ReadStart,
    maxCount: number,
    filter: Filter,
    take: (event: RecordedEvent) => boolean,
  ): Promise<{ scanned: number; last?: number }> {
    let scanned = 0;
    let last: number | undefined;
    for await (const resolved of this.client.readAll({ direction: FORWARDS, fromPosition: start.from, maxCount, filter })) {
      scanned += 1;
      const event = toRecordedEvent(resolved as AllStreamResolvedEvent);
      if (!event) continue;
      last = event.position;
      if (event.position < start.min) continue;
      if (!take(event)) break;
    }
    return { scanned, last };
  }

  /** Position of the newest record in `$all`, system records included, read from the leader. */
  private async rawHead(): Promise<number> {
    for await (const resolved of this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1, requiresLeader: true })) {
      const commit = resolved.event?.position?.commit ?? resolved.commitPosition;
      if (commit !== undefined) return toSafeNumber(commit, 'Position');
    }
    return 0;
  }

  /** For servers that answer an append without a position. */
  private async positionOfRevision(stream: string, revision: number): Promise<number> {
    for await (const resolved of this.client.readStream(stream, {
      direction: FORWARDS,
      fromRevision: toRevision(revision),
      maxCount: 1,
      requiresLeader: true,
    })) {
      const event = toRecordedEvent(resolved);
      if (event && event.position >= 0) return event.position;
    }
    throw new EventStoreUnavailableError(`KurrentDB returned no position for ${stream}@${revision}`);
  }

  /** Keeps a subscription until it releases its server stream, so close() can stop it. */
  private register(create: (onClose: () => void) => Subscription): Subscription {
    let subscription: Subscription | undefined = undefined;
    subscription = create(() => {
      if (subscription) this.openSubscriptions.delete(subscription);
    });
    this.openSubscriptions.add(subscription);
    return subscription;
  }

  private assertOpen(): void {
    if (this.closed) throw new EventStoreUnavailableError('The event store is closed');
  }
}

function isStreamNotFound(error: unknown): boolean {
  return (error as { type?: unknown } | null)?.type === 'stream-not-found';
}

function failedSubscription(error: Error): Subscription {
  async function* iterate(): AsyncGenerator<RecordedEvent> {
    throw error;
  }
  const iterator = iterate();
  return {
    [Symbol.asyncIterator]: () => iterator,
    async stop() {
      await iterator.return(undefined);
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new EventStoreUnavailableError(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
