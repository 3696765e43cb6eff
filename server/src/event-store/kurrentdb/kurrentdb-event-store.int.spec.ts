import {
  type AllStreamResolvedEvent,
  AccessDeniedError,
  DeadlineExceededError,
  InvalidArgumentError,
  MaxAppendSizeExceededError,
  NotLeaderError,
  UnavailableError,
  WrongExpectedVersionError,
  excludeSystemEvents,
} from '@kurrent/kurrentdb-client';
import { type AddressInfo, createServer } from 'node:net';
import { PassThrough } from 'node:stream';
import { EventStoreError, EventStoreUnavailableError, InvalidEventError, WrongExpectedRevisionError } from '../errors';
import { eventStoreContract, newEvent, waitFor } from '../event-store.contract';
import type { EventStore, RecordedEvent } from '../event-store.port';
import { KurrentDbEventStore } from './kurrentdb-event-store';
import {
  RecentPositions,
  normalizeConnectionString,
  planReadStart,
  toEventStoreError,
  toRecordedEvent,
  toServerFilter,
  toStreamState,
} from './kurrentdb-mapping';
import { type SubscriptionSource, nativeSubscription } from './kurrentdb-subscription';
import { FakeKurrentDb } from './fake-kurrentdb.fixture';

const EVENTSTORE_URL = process.env.EVENTSTORE_URL;

if (!EVENTSTORE_URL) {
  console.warn(
    'KurrentDB contract suite NOT run: EVENTSTORE_URL is not set (no KurrentDB server can run on this machine; docker compose up kurrentdb and set EVENTSTORE_URL=kurrentdb://localhost:2113?tls=false to run it)',
  );
}

if (EVENTSTORE_URL) {
  describe('KurrentDbEventStore contract against the server at EVENTSTORE_URL', () => {
    eventStoreContract(
      async () => new KurrentDbEventStore(EVENTSTORE_URL),
      (store: EventStore) => store.close(),
    );
  });
}

/** A port nothing listens on: bound by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function rejectionOf(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  try {
    await promise;
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
  throw new Error('expected a rejection');
}

describe('KurrentDbEventStore with no server listening', () => {
  let url: string;
  const stores: KurrentDbEventStore[] = [];
  const open = (options?: ConstructorParameters<typeof KurrentDbEventStore>[1]) => {
    const store = new KurrentDbEventStore(url, options);
    stores.push(store);
    return store;
  };
  beforeAll(async () => {
    url = `kurrentdb://127.0.0.1:${await closedPort()}?tls=false`;
  });
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
  });

  it('rejects append and readStream with EventStoreUnavailableError within a few seconds', async () => {
    const store = open();
    const append = await rejectionOf(store.append('s-1', [newEvent()], { expectedRevision: 'no_stream' }));
    expect(append.error).toBeInstanceOf(EventStoreUnavailableError);
    expect(append.ms).toBeLessThan(5_000);
    const read = await rejectionOf(store.readStream('s-1'));
    expect(read.error).toBeInstanceOf(EventStoreUnavailableError);
    expect(read.ms).toBeLessThan(5_000);
  });

  it('rejects an append sent straight over gRPC (no replay check) the same way', async () => {
    const store = open({ detectReplays: false });
    const append = await rejectionOf(store.append('s-2', [newEvent()]));
    expect(append.error).toBeInstanceOf(EventStoreUnavailableError);
    expect((append.error as Error).message).toMatch(/UNAVAILABLE|ECONNREFUSED/);
    expect(append.ms).toBeLessThan(5_000);
  });

  it('rejects readAll and headPosition, and ends a subscription, with EventStoreUnavailableError', async () => {
    const store = open();
    await expect(store.readAll({ fromPosition: 0, maxCount: 10 })).rejects.toBeInstanceOf(EventStoreUnavailableError);
    await expect(store.headPosition()).rejects.toBeInstanceOf(EventStoreUnavailableError);
    const subscription = store.subscribeToAll({ afterPosition: 0 });
    const iteration = (async () => {
      for await (const event of subscription) void event;
    })();
    await expect(iteration).rejects.toBeInstanceOf(EventStoreUnavailableError);
    await subscription.stop();
  });

  it('refuses invalid appends before contacting the server', async () => {
    const store = open();
    const twice = newEvent();
    const cases: Array<[string, Parameters<EventStore['append']>]> = [
      ['id', ['s', [{ ...newEvent(), id: 'not-a-uuid' }]]],
      ['empty type', ['s', [newEvent('')]]],
      ['system type', ['s', [newEvent('$metadata')]]],
      ['workspace', ['s', [{ ...newEvent(), metadata: {} as never }]]],
      ['duplicate id', ['s', [twice, { ...twice }]]],
      ['no events', ['s', []]],
      ['empty stream', ['', [newEvent()]]],
      ['system stream', ['$stats', [newEvent()]]],
      ['negative revision', ['s', [newEvent()], { expectedRevision: -1 }]],
      ['fractional revision', ['s', [newEvent()], { expectedRevision: 1.5 }]],
    ];
    for (const [label, args] of cases) {
      const { error, ms } = await rejectionOf(store.append(...args));
      expect([label, error]).toEqual([label, expect.any(InvalidEventError)]);
      expect(ms).toBeLessThan(100);
    }
    await expect(store.readStream('s', { fromRevision: -2 })).rejects.toBeInstanceOf(InvalidEventError);
  });

  it('rejects every call once closed', async () => {
    const store = new KurrentDbEventStore(url);
    await store.close();
    await expect(store.append('s', [newEvent()])).rejects.toBeInstanceOf(EventStoreUnavailableError);
    await expect(store.readStream('s')).rejects.toBeInstanceOf(EventStoreUnavailableError);
    await expect(store.readAll()).rejects.toBeInstanceOf(EventStoreUnavailableError);
    await expect(store.headPosition()).rejects.toBeInstanceOf(EventStoreUnavailableError);
    const subscription = store.subscribeToAll();
    await expect(subscription[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(EventStoreUnavailableError);
    await store.close();
  });
});

describe('KurrentDB connection strings', () => {
  it('accepts kurrentdb://, kdb:// and esdb:// (rewritten to kurrentdb://), with or without +discover', () => {
    expect(normalizeConnectionString('kurrentdb://localhost:2113?tls=false')).toBe('kurrentdb://localhost:2113?tls=false');
    expect(normalizeConnectionString('kdb://a:2113,b:2113')).toBe('kdb://a:2113,b:2113');
    expect(normalizeConnectionString('esdb://admin:changeit@localhost:2113?tls=false')).toBe(
      'kurrentdb://admin:changeit@localhost:2113?tls=false',
    );
    expect(normalizeConnectionString(' esdb+discover://cluster.dns:2113 ')).toBe('kurrentdb+discover://cluster.dns:2113');
    expect(normalizeConnectionString('kurrentdb+discover://cluster.dns:2113')).toBe('kurrentdb+discover://cluster.dns:2113');
  });

  it('refuses other schemes without echoing credentials', () => {
    expect(() => normalizeConnectionString('http://admin:secret@localhost:2113')).toThrow(EventStoreError);
    expect(() => normalizeConnectionString('http://admin:secret@localhost:2113')).not.toThrow(/secret/);
    expect(() => new KurrentDbEventStore('postgres://localhost')).toThrow(EventStoreError);
  });

  it('builds a client from each accepted scheme without connecting', async () => {
    for (const scheme of ['kurrentdb', 'kdb', 'esdb']) {
      const store = new KurrentDbEventStore(`${scheme}://127.0.0.1:2113?tls=false`);
      expect(store.kind).toBe('kurrentdb');
      await store.close();
    }
  });
});

describe('KurrentDB mapping', () => {
  it('maps expected revisions to stream states', () => {
    expect(toStreamState()).toBe('any');
    expect(toStreamState('any')).toBe('any');
    expect(toStreamState('no_stream')).toBe('no_stream');
    expect(toStreamState('stream_exists')).toBe('stream_exists');
    expect(toStreamState(0)).toBe(0n);
    expect(toStreamState(41)).toBe(41n);
    expect(() => toStreamState(-1)).toThrow(InvalidEventError);
    expect(() => toStreamState(Number.NaN)).toThrow(InvalidEventError);
    expect(() => toStreamState('latest' as never)).toThrow(InvalidEventError);
  });

  it('maps a wrong expected version to WrongExpectedRevisionError with our expectation and the actual revision', () => {
    const fromServer = new WrongExpectedVersionError(undefined, { streamName: 'user-1', expected: 3n, current: 7n });
    const mapped = toEventStoreError(fromServer, { stream: 'user-1', expected: 3 });
    expect(mapped).toBeInstanceOf(WrongExpectedRevisionError);
    expect(mapped).toMatchObject({ stream: 'user-1', expected: '3', actual: 7 });
    expect(mapped.cause).toBe(fromServer);
    const noStream = toEventStoreError(
      new WrongExpectedVersionError(undefined, { streamName: 'user-2', expected: 'stream_exists', current: 'no_stream' }),
    );
    expect(noStream).toMatchObject({ stream: 'user-2', expected: 'stream_exists', actual: 'no_stream' });
  });

  it('maps connection, deadline and leader errors to EventStoreUnavailableError', () => {
    const raw = Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14, details: '', metadata: {} });
    const socket = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const notLeader = Object.create(NotLeaderError.prototype) as NotLeaderError;
    Object.assign(notLeader, { type: 'not-leader', message: 'not leader' });
    for (const error of [new UnavailableError(), new DeadlineExceededError(), raw, socket, notLeader]) {
      expect(toEventStoreError(error)).toBeInstanceOf(EventStoreUnavailableError);
    }
    expect(toEventStoreError(raw).message).toContain('UNAVAILABLE');
  });

  it('maps refused input to InvalidEventError and leaves other errors as they are', () => {
    expect(toEventStoreError(new InvalidArgumentError('bad'))).toBeInstanceOf(InvalidEventError);
    expect(toEventStoreError(MaxAppendSizeExceededError.fromMaxAppendSize(1024))).toBeInstanceOf(InvalidEventError);
    const denied = new AccessDeniedError();
    expect(toEventStoreError(denied)).toBe(denied);
    const ours = new InvalidEventError('x');
    expect(toEventStoreError(ours)).toBe(ours);
    expect(toEventStoreError('boom')).toBeInstanceOf(EventStoreError);
  });

  it('maps a resolved event to a recorded event', () => {
    const created = new Date('2025-03-04T05:06:07.089Z');
    const resolved: AllStreamResolvedEvent = {
      event: {
        streamId: 'user-1',
        id: '0195f0c2-0000-7000-8000-000000000001',
        isJson: true,
        revision: 4n,
        type: 'Tracked',
        created,
        data: { a: 1 },
        metadata: { workspace: 'w', occurredAt: 'x', receivedAt: 'y', schemaVersion: 1 },
        position: { commit: 123_456n, prepare: 123_456n },
      },
      commitPosition: 123_456n,
    };
    expect(toRecordedEvent(resolved)).toEqual({
      id: '0195f0c2-0000-7000-8000-000000000001',
      type: 'Tracked',
      data: { a: 1 },
      metadata: { workspace: 'w', occurredAt: 'x', receivedAt: 'y', schemaVersion: 1 },
      stream: 'user-1',
      revision: 4,
      position: 123_456,
      recordedAt: '2025-03-04T05:06:07.089Z',
    });
    expect(toRecordedEvent({ commitPosition: 5n })).toBeUndefined();
    const withoutPosition = { event: { ...resolved.event!, position: undefined, metadata: undefined } } as unknown as AllStreamResolvedEvent;
    expect(toRecordedEvent(withoutPosition)).toMatchObject({ position: -1, metadata: {} });
  });

  it('lets the server filter by stream prefix, else by type prefix, else only drop system types', () => {
    expect(toServerFilter({ streamPrefixes: ['user-'], eventTypes: ['A'] })).toMatchObject({ filterOn: 'streamName', prefixes: ['user-'] });
    expect(toServerFilter({ eventTypes: ['A', 'B'] })).toMatchObject({ filterOn: 'eventType', prefixes: ['A', 'B'] });
    expect(toServerFilter()).toEqual(excludeSystemEvents());
    expect(toServerFilter({ streamPrefixes: [] })).toEqual(excludeSystemEvents());
  });

  it('starts $all reads at a known record, one before it, or tries both', () => {
    const known = new RecentPositions(3);
    [100, 200, 300, 400].forEach((p) => known.add(p));
    expect(known.has(100)).toBe(false);
    expect(known.size).toBe(3);
    const isKnown = (p: number) => known.has(p);
    expect(planReadStart(0, isKnown)).toEqual({ from: 'start', min: 0 });
    expect(planReadStart(1, isKnown)).toEqual({ from: 'start', min: 1 });
    expect(planReadStart(300, isKnown)).toEqual({ from: { commit: 300n, prepare: 300n }, min: 300 });
    expect(planReadStart(301, isKnown)).toEqual({ from: { commit: 300n, prepare: 300n }, min: 301 });
    expect(planReadStart(501, isKnown)).toEqual({
      from: { commit: 501n, prepare: 501n },
      min: 501,
      fallback: { from: { commit: 500n, prepare: 500n }, min: 501 },
    });
    expect(() => planReadStart(1.5, isKnown)).toThrow(InvalidEventError);
  });
});

describe('KurrentDB subscription adapter', () => {
  function fakeSource(): PassThrough & SubscriptionSource & { unsubscribed: boolean } {
    const source = new PassThrough({ objectMode: true }) as PassThrough & SubscriptionSource & { unsubscribed: boolean };
    source.unsubscribed = false;
    source.unsubscribe = async () => {
      source.unsubscribed = true;
    };
    return source;
  }
  const resolved = (position: number, stream: string, type: string): AllStreamResolvedEvent => ({
    event: {
      streamId: stream,
      id: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`,
      isJson: true,
      revision: 0n,
      type,
      created: new Date(0),
      data: {},
      metadata: { workspace: 'w' },
      position: { commit: BigInt(position), prepare: BigInt(position) },
    },
  });

  it('yields matching events after the checkpoint in order, skipping system and filtered-out ones', async () => {
    const source = fakeSource();
    const seen: number[] = [];
    const subscription = nativeSubscription(source, {
      afterPosition: 100,
      filter: { streamPrefixes: ['user-'], eventTypes: ['Wanted'] },
      onPosition: (p) => seen.push(p),
    });
    const received: RecordedEvent[] = [];
    const done = (async () => {
      for await (const event of subscription) received.push(event);
    })();
    source.write(resolved(100, 'user-1', 'Wanted')); // at the checkpoint: already handled
    source.write(resolved(200, 'user-1', 'Wanted'));
    source.write(resolved(300, '$stats-1', 'Wanted'));
    source.write(resolved(400, 'user-2', '$metadata'));
    source.write(resolved(500, 'other-1', 'Wanted'));
    source.write(resolved(600, 'user-3', 'Unwanted'));
    source.write(resolved(700, 'user-4', 'Wanted'));
    source.write(resolved(650, 'user-5', 'Wanted')); // out of order: never delivered
    await waitFor(() => received.length === 2);
    await subscription.stop();
    await done;
    expect(received.map((e) => [e.position, e.stream])).toEqual([
      [200, 'user-1'],
      [700, 'user-4'],
    ]);
    expect(seen).toEqual([200, 300, 400, 500, 600, 700]);
    expect(source.unsubscribed).toBe(true);
    expect(source.destroyed).toBe(true);
  });

  it('resolves a pending next() as done on stop, and releases a never-iterated source', async () => {
    const waiting = fakeSource();
    const subscription = nativeSubscription(waiting, { afterPosition: 0 });
    const pending = subscription[Symbol.asyncIterator]().next();
    await new Promise((r) => setTimeout(r, 20));
    await subscription.stop();
    await expect(pending).resolves.toEqual({ done: true, value: undefined });

    const idle = fakeSource();
    let closed = 0;
    await nativeSubscription(idle, { afterPosition: 0, onClose: () => (closed += 1) }).stop();
    expect([idle.unsubscribed, idle.destroyed, closed]).toEqual([true, true, 1]);
  });

  it('raises a connection error, even one emitted before iterating, as EventStoreUnavailableError', async () => {
    const source = fakeSource();
    const subscription = nativeSubscription(source, { afterPosition: 0 });
    source.emit('error', new UnavailableError());
    await expect(subscription[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(EventStoreUnavailableError);
    expect(source.unsubscribed).toBe(true);

    const ended = fakeSource();
    const endedSubscription = nativeSubscription(ended, { afterPosition: 0 });
    ended.end();
    await expect(endedSubscription[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(EventStoreUnavailableError);
  });
});

describe('KurrentDbEventStore contract against an in-memory stand-in of the client', () => {
  eventStoreContract(
    async () => new KurrentDbEventStore(new FakeKurrentDb()),
    (store: EventStore) => store.close(),
  );
});

describe('KurrentDbEventStore adapter logic (in-memory stand-in)', () => {
  it('reports an idempotent replay as appended: 0, or as written when replay detection is off', async () => {
    const client = new FakeKurrentDb();
    const events = [newEvent(), newEvent()];
    const store = new KurrentDbEventStore(client);
    const first = await store.append('user-1', events, { expectedRevision: 'no_stream' });
    const again = await store.append('user-1', events, { expectedRevision: 'no_stream' });
    expect([first.appended, again.appended, again.position]).toEqual([2, 0, first.position]);
    const blind = new KurrentDbEventStore(client, { detectReplays: false });
    expect((await blind.append('user-1', events, { expectedRevision: 'no_stream' })).appended).toBe(2);
  });

  it('pages readAll from "last position + 1", even in a fresh process, and skips system records', async () => {
    const client = new FakeKurrentDb();
    const writer = new KurrentDbEventStore(client);
    for (let i = 0; i < 7; i++) await writer.append(`user-${i % 3}`, [newEvent('Tracked', { i })]);
    const reader = new KurrentDbEventStore(client); // knows no positions yet
    const all: RecordedEvent[] = [];
    let from = 1;
    for (;;) {
      const page = await reader.readAll({ fromPosition: from, maxCount: 3 });
      if (page.length === 0) break;
      all.push(...page);
      from = page[page.length - 1].position + 1;
    }
    expect(all.map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const fresh = new KurrentDbEventStore(client);
    const fromInside = await fresh.readAll({ fromPosition: all[2].position + 1, maxCount: 2 });
    expect(fromInside.map((e) => e.position)).toEqual([all[3].position, all[4].position]);
    await expect(fresh.readAll({ fromPosition: all[2].position + 2 })).rejects.toBeInstanceOf(InvalidEventError);
    expect(await fresh.headPosition()).toBe(all[6].position);
  });

  it('fills maxCount when the type filter runs on the client after the stream-prefix filter', async () => {
    const client = new FakeKurrentDb();
    const store = new KurrentDbEventStore(client);
    for (let i = 0; i < 30; i++) await store.append('user-1', [newEvent(i % 10 === 9 ? 'Rare' : 'Common', { i })]);
    const rare = await store.readAll({ maxCount: 2, filter: { streamPrefixes: ['user-'], eventTypes: ['Rare'] } });
    expect(rare.map((e) => (e.data as { i: number }).i)).toEqual([9, 19]);
    expect(await store.readAll({ filter: { eventTypes: [] } })).toEqual([]);
  });

  it('stops open subscriptions on close', async () => {
    const store = new KurrentDbEventStore(new FakeKurrentDb());
    const subscription = store.subscribeToAll();
    const done = (async () => {
      for await (const event of subscription) void event;
    })();
    await new Promise((r) => setTimeout(r, 20));
    await store.close();
    await expect(done).resolves.toBeUndefined();
  });
});
