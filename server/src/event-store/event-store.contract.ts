/**
 * The behaviour every EventStore adapter must have. Run by each adapter's spec with a factory for a
 * fresh store. Stream names are unique per run so the suite also works on a shared KurrentDB server.
 */
import { randomUUID } from 'node:crypto';
import { uuidv7 } from '../shared/ids';
import { InvalidEventError, WrongExpectedRevisionError } from './errors';
import type { EventStore, NewEvent, RecordedEvent } from './event-store.port';

export function newEvent(type = 'Tested', data: unknown = {}, id = uuidv7()): NewEvent {
  const now = new Date().toISOString();
  return { id, type, data, metadata: { workspace: 'test', occurredAt: now, receivedAt: now, schemaVersion: 1 } };
}

export function eventStoreContract(makeStore: () => Promise<EventStore>, dispose: (store: EventStore) => Promise<void>) {
  let store: EventStore;
  let prefix: string;
  beforeEach(async () => {
    store = await makeStore();
    prefix = `contract_${randomUUID().replace(/-/g, '')}`;
  });
  afterEach(async () => dispose(store));

  const s = (name: string) => `${prefix}-${name}`;

  describe('append', () => {
    it('numbers a new stream from revision 0 and returns the next expected revision', async () => {
      const result = await store.append(s('a'), [newEvent(), newEvent(), newEvent()], { expectedRevision: 'no_stream' });
      expect(result.nextExpectedRevision).toBe(2);
      expect(result.appended).toBe(3);
      const events = await store.readStream(s('a'));
      expect(events.map((e) => e.revision)).toEqual([0, 1, 2]);
      expect(events[2].position).toBe(result.position);
    });

    it('round-trips id, type, data and metadata', async () => {
      const event = newEvent('Ordered', { total: 12.5, items: [{ sku: 'x', qty: 2 }], note: 'héllo ✓', empty: null });
      event.metadata.causationId = randomUUID();
      event.metadata.correlationId = randomUUID();
      await store.append(s('b'), [event]);
      const [read] = await store.readStream(s('b'));
      expect(read).toMatchObject({ id: event.id, type: 'Ordered', data: event.data, metadata: event.metadata, stream: s('b') });
      expect(Number.isNaN(Date.parse(read.recordedAt))).toBe(false);
    });

    it('enforces no_stream, stream_exists and exact revisions with a typed error', async () => {
      await expect(store.append(s('c'), [newEvent()], { expectedRevision: 'stream_exists' })).rejects.toBeInstanceOf(
        WrongExpectedRevisionError,
      );
      await store.append(s('c'), [newEvent()], { expectedRevision: 'no_stream' });
      await expect(store.append(s('c'), [newEvent()], { expectedRevision: 'no_stream' })).rejects.toBeInstanceOf(
        WrongExpectedRevisionError,
      );
      await expect(store.append(s('c'), [newEvent()], { expectedRevision: 5 })).rejects.toBeInstanceOf(
        WrongExpectedRevisionError,
      );
      await store.append(s('c'), [newEvent()], { expectedRevision: 'stream_exists' });
      const result = await store.append(s('c'), [newEvent()], { expectedRevision: 1 });
      expect(result.nextExpectedRevision).toBe(2);
      await store.append(s('c'), [newEvent()], { expectedRevision: 'any' });
      expect(await store.readStream(s('c'))).toHaveLength(4);
    });

    it('treats a second append of the same event ids as a no-op', async () => {
      const events = [newEvent(), newEvent()];
      const first = await store.append(s('d'), events, { expectedRevision: 'no_stream' });
      const again = await store.append(s('d'), events, { expectedRevision: 'no_stream' });
      expect(again.nextExpectedRevision).toBe(first.nextExpectedRevision);
      const third = await store.append(s('d'), events);
      expect(third.nextExpectedRevision).toBe(1);
      expect(await store.readStream(s('d'))).toHaveLength(2);
    });

    it('lets exactly one of many concurrent writers win the same expected revision', async () => {
      await store.append(s('e'), [newEvent()]);
      const attempts = await Promise.allSettled(
        Array.from({ length: 64 }, () => store.append(s('e'), [newEvent('Capped')], { expectedRevision: 0 })),
      );
      expect(attempts.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
      const rejected = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
      expect(rejected).toHaveLength(63);
      for (const r of rejected) expect(r.reason).toBeInstanceOf(WrongExpectedRevisionError);
      expect(await store.readStream(s('e'))).toHaveLength(2);
    });

    it('rejects an append with an invalid event whole, storing nothing', async () => {
      const bad = { ...newEvent(), id: 'not-a-uuid' };
      await expect(store.append(s('f'), [newEvent(), bad])).rejects.toBeInstanceOf(InvalidEventError);
      await expect(store.append(s('f'), [newEvent('$system')])).rejects.toBeInstanceOf(InvalidEventError);
      await expect(store.append(`$${s('f')}`, [newEvent()])).rejects.toBeInstanceOf(InvalidEventError);
      await expect(store.append(s('f'), [newEvent()], { expectedRevision: -2 })).rejects.toBeInstanceOf(InvalidEventError);
      const repeated = newEvent();
      await expect(store.append(s('f'), [repeated, repeated])).rejects.toBeInstanceOf(InvalidEventError);
      expect(await store.readStream(s('f'))).toEqual([]);
    });
  });

  describe('readStream', () => {
    it('reads forwards and backwards from a revision with a limit; an unknown stream is empty', async () => {
      await store.append(s('r'), Array.from({ length: 10 }, (_, i) => newEvent('N', { i })));
      const revisions = (events: RecordedEvent[]) => events.map((e) => e.revision);
      expect(revisions(await store.readStream(s('r'), { fromRevision: 3, maxCount: 4 }))).toEqual([3, 4, 5, 6]);
      expect(revisions(await store.readStream(s('r'), { direction: 'backwards', maxCount: 3 }))).toEqual([9, 8, 7]);
      expect(revisions(await store.readStream(s('r'), { direction: 'backwards', fromRevision: 2 }))).toEqual([2, 1, 0]);
      expect(await store.readStream(s('nothing'))).toEqual([]);
    });
  });

  describe('readAll', () => {
    it('returns events in global order from an inclusive position, filtered by stream prefix or type', async () => {
      const first = await store.append(s('x1'), [newEvent('A')]);
      await store.append(s('y1'), [newEvent('B')]);
      await store.append(s('x2'), [newEvent('B'), newEvent('A')]);
      const fromFirst = first.position;
      const ours = await store.readAll({ fromPosition: fromFirst, filter: { streamPrefixes: [prefix] } });
      expect(ours.map((e) => [e.stream, e.type])).toEqual([
        [s('x1'), 'A'],
        [s('y1'), 'B'],
        [s('x2'), 'B'],
        [s('x2'), 'A'],
      ]);
      const positions = ours.map((e) => e.position);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
      expect(new Set(positions).size).toBe(4);
      const xs = await store.readAll({ fromPosition: fromFirst, filter: { streamPrefixes: [s('x')] } });
      expect(xs.map((e) => e.stream)).toEqual([s('x1'), s('x2'), s('x2')]);
      const bs = await store.readAll({ fromPosition: fromFirst, filter: { streamPrefixes: [prefix], eventTypes: ['B'] } });
      expect(bs.map((e) => e.stream)).toEqual([s('y1'), s('x2')]);
      const fromSecond = await store.readAll({ fromPosition: ours[1].position, maxCount: 2, filter: { streamPrefixes: [prefix] } });
      expect(fromSecond.map((e) => e.position)).toEqual([ours[1].position, ours[2].position]);
      expect(await store.headPosition()).toBeGreaterThanOrEqual(ours[3].position);
    });
  });

  describe('subscribeToAll', () => {
    it('catches up from a checkpoint, then delivers concurrent appends exactly once and in order', async () => {
      const before = await store.append(s('sub-0'), [newEvent('Before')]);
      const subscription = store.subscribeToAll({ afterPosition: before.position, filter: { streamPrefixes: [prefix] } });
      const writers = 16;
      const perWriter = 25;
      const received: RecordedEvent[] = [];
      const done = (async () => {
        for await (const event of subscription) {
          received.push(event);
          if (received.length === writers * perWriter) break;
        }
      })();
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let i = 0; i < perWriter; i++) await store.append(s(`sub-${w % 4}`), [newEvent('Live', { w, i })]);
        }),
      );
      await done;
      await subscription.stop();
      expect(received.some((e) => e.type === 'Before')).toBe(false);
      const positions = received.map((e) => e.position);
      expect(positions.every((p, i) => i === 0 || p > positions[i - 1])).toBe(true);
      expect(new Set(received.map((e) => e.id)).size).toBe(writers * perWriter);
      for (let w = 0; w < writers; w++) {
        const mine = received.filter((e) => (e.data as { w: number }).w === w).map((e) => (e.data as { i: number }).i);
        expect(mine).toEqual(Array.from({ length: perWriter }, (_, i) => i));
      }
    });

    it('hands out what it has ready at once (takeReady), still exactly once and in order', async () => {
      const start = await store.headPosition();
      const subscription = store.subscribeToAll({ afterPosition: start, filter: { streamPrefixes: [prefix] } });
      const events = subscription[Symbol.asyncIterator]();
      const total = 120;
      const received: RecordedEvent[] = [];
      let batches = 0;
      const appending = (async () => {
        for (let i = 0; i < total; i += 10) {
          await store.append(s('ready'), Array.from({ length: 10 }, (_, j) => newEvent('Ready', { n: i + j })));
        }
      })();
      while (received.length < total) {
        const first = await events.next();
        if (first.done) break;
        batches += 1;
        received.push(first.value, ...(subscription.takeReady?.(25) ?? []));
      }
      await appending;
      await subscription.stop();
      expect(received.map((e) => (e.data as { n: number }).n)).toEqual(Array.from({ length: total }, (_, n) => n));
      // Adapters that offer takeReady hand out more than one event per next() when events are waiting.
      if (subscription.takeReady) expect(batches).toBeLessThan(total);
    });

    it('filters by event type and stops cleanly while waiting', async () => {
      const start = await store.headPosition();
      const subscription = store.subscribeToAll({ afterPosition: start, filter: { streamPrefixes: [prefix], eventTypes: ['Wanted'] } });
      const received: string[] = [];
      const done = (async () => {
        for await (const event of subscription) received.push(event.type);
      })();
      await store.append(s('t'), [newEvent('Unwanted'), newEvent('Wanted'), newEvent('Unwanted')]);
      await waitFor(() => received.length === 1);
      await subscription.stop();
      await done;
      expect(received).toEqual(['Wanted']);
    });
  });
}

export async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('Timed out waiting for condition');
    await new Promise((r) => setTimeout(r, 5));
  }
}
