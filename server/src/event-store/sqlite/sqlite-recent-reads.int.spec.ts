/**
 * The store keeps recently read events for the other subscribers. Reading the log from the start
 * again after its newest part was kept (a subscriber replaying from position 0, such as the
 * analytics sink) must work, and return the same events.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newEvent } from '../event-store.contract';
import type { RecordedEvent } from '../event-store.port';
import { until } from '../../test-support/log-and-state';
import { SqliteEventStore } from './sqlite-event-store';

it('reads from the start again after the newest 20,000+ events were kept', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'herald-recent-'));
  const store = new SqliteEventStore({ path: join(folder, 'events.sqlite') });
  try {
    for (let batch = 0; batch < 50; batch++) {
      await store.append(`user-default:${batch}`, Array.from({ length: 500 }, (_, i) => newEvent('Tested', { batch, i })));
    }
    const head = await store.headPosition();
    const readAll = async () => {
      const positions: number[] = [];
      for (let from = 1; from <= head; ) {
        const page = await store.readAll({ fromPosition: from, maxCount: 5000 });
        positions.push(...page.map((event) => event.position));
        from = page[page.length - 1].position + 1;
      }
      return positions;
    };
    const first = await readAll();
    expect(await readAll()).toEqual(first);
    expect(await readAll()).toHaveLength(head);
  } finally {
    await store.close();
    rmSync(folder, { recursive: true, force: true });
  }
});

it('keeps read events until every live subscriber has read them, then drops them', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'herald-recent-'));
  const store = new SqliteEventStore({ path: join(folder, 'events.sqlite') });
  try {
    const start = await store.headPosition();
    const total = 600;
    const subscriptions = [0, 1, 2].map(() => store.subscribeToAll({ afterPosition: start }));
    const received: number[][] = [[], [], []];
    let slowMayRead = false;
    const consumers = subscriptions.map(async (subscription, i) => {
      for await (const event of subscription) {
        // The third subscriber stops after 100 events until it is let go.
        while (i === 2 && received[2].length >= 100 && !slowMayRead) await new Promise((resolve) => setTimeout(resolve, 5));
        received[i].push(event.position);
        if (received[i].length === total) break;
      }
    });
    for (let batch = 0; batch < total / 50; batch++) {
      await store.append(`user-default:r${batch % 5}`, Array.from({ length: 50 }, (_, n) => newEvent('Kept', { batch, n })));
    }
    const settled = async (condition: () => boolean) => {
      for (let i = 0; i < 2000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(condition()).toBe(true);
    };
    await settled(() => received[0].length === total && received[1].length === total && received[2].length >= 100);
    // What the paused subscriber has not read yet stays kept for it.
    expect(store.keptEvents).toBeGreaterThan(total - 200);
    slowMayRead = true;
    await Promise.all(consumers);
    const expected = received[0];
    expect(received[1]).toEqual(expected);
    expect(received[2]).toEqual(expected);
    expect(expected).toEqual([...expected].sort((a, b) => a - b));
    // Read by everyone: nothing is kept any more.
    expect(store.keptEvents).toBe(0);
    await Promise.all(subscriptions.map((subscription) => subscription.stop()));
  } finally {
    await store.close();
    rmSync(folder, { recursive: true, force: true });
  }
});

it('keeps each commit while a subscriber lags a little: the others read none of it from the log, and the laggard reads every event once, in order', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'herald-recent-'));
  const store = new SqliteEventStore({ path: join(folder, 'events.sqlite') });
  let slowMayRead = false;
  try {
    await store.append('user-default:seed', Array.from({ length: 300 }, (_, n) => newEvent('Before', { n })));
    const readsBefore = store.stats.logReads;
    // The laggard starts 300 events back (not far behind): it reads those from the log, at once.
    const lagging = store.subscribeToAll({ afterPosition: 0 });
    const start = await store.headPosition();
    const atHead = [0, 1].map(() => store.subscribeToAll({ afterPosition: start }));
    const total = 600;
    const received: number[][] = [[], [], []];
    const consumers = [...atHead, lagging].map(async (subscription, i) => {
      const expected = i === 2 ? total + 300 : total;
      for await (const event of subscription) {
        while (i === 2 && !slowMayRead) await new Promise((resolve) => setTimeout(resolve, 5));
        received[i].push(event.position);
        if (received[i].length === expected) break;
      }
    });
    expect(store.stats.logReads).toBe(readsBefore + 1);
    for (let batch = 0; batch < total / 50; batch++) {
      await store.append(`user-default:l${batch % 5}`, Array.from({ length: 50 }, (_, n) => newEvent('Kept', { batch, n })));
      await until(() => received[0].length === (batch + 1) * 50 && received[1].length === (batch + 1) * 50, 'the subscribers at the head');
    }
    // Every commit was kept for the two at the head, although the laggard had not read the one before.
    expect(store.stats.logReads).toBe(readsBefore + 1);
    slowMayRead = true;
    await Promise.all(consumers);
    expect(received[0]).toEqual(Array.from({ length: total }, (_, i) => start + i + 1));
    expect(received[1]).toEqual(received[0]);
    expect(received[2]).toEqual(Array.from({ length: total + 300 }, (_, i) => i + 1));
    // The laggard read only the 300 events before the kept ones from the log.
    expect(store.stats.logReads).toBe(readsBefore + 1);
    await Promise.all([...atHead, lagging].map((subscription) => subscription.stop()));
  } finally {
    slowMayRead = true;
    await store.close();
    rmSync(folder, { recursive: true, force: true });
  }
});

it('keeps nothing for a subscriber far behind the others: they drop what they have read, and it still reads every event once, in order', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'herald-recent-'));
  const store = new SqliteEventStore({ path: join(folder, 'events.sqlite') });
  let slowMayRead = false;
  try {
    const start = await store.headPosition();
    // More than the 5,000 events behind the others past which a subscriber holds nothing kept.
    const total = 8000;
    const subscriptions = [0, 1, 2].map(() => store.subscribeToAll({ afterPosition: start }));
    const received: number[][] = [[], [], []];
    const consumers = subscriptions.map(async (subscription, i) => {
      for await (const event of subscription) {
        while (i === 2 && received[2].length >= 100 && !slowMayRead) await new Promise((resolve) => setTimeout(resolve, 5));
        received[i].push(event.position);
        if (received[i].length === total) break;
      }
    });
    for (let batch = 0; batch < total / 500; batch++) {
      await store.append(`user-default:f${batch % 5}`, Array.from({ length: 500 }, (_, n) => newEvent('Kept', { batch, n })));
    }
    const settled = async (condition: () => boolean) => {
      for (let i = 0; i < 2000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(condition()).toBe(true);
    };
    await settled(() => received[0].length === total && received[1].length === total && received[2].length >= 100);
    // The paused subscriber is 7,900 events behind: what the other two have read is not kept for it.
    expect(store.keptEvents).toBe(0);
    slowMayRead = true;
    await Promise.all(consumers);
    expect(received[0]).toEqual(Array.from({ length: total }, (_, i) => start + i + 1));
    expect(received[1]).toEqual(received[0]);
    expect(received[2]).toEqual(received[0]);
    await Promise.all(subscriptions.map((subscription) => subscription.stop()));
  } finally {
    // A failed expectation must not leave the paused subscriber waiting forever.
    slowMayRead = true;
    await store.close();
    rmSync(folder, { recursive: true, force: true });
  }
});

it('hands live subscribers the events it has just appended, exactly as a read of the log gives them', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'herald-recent-'));
  const store = new SqliteEventStore({ path: join(folder, 'events.sqlite') });
  try {
    await store.append('user-default:seed', [newEvent('Seeded')]);
    const start = await store.headPosition();
    const subscription = store.subscribeToAll({ afterPosition: start });
    const received: RecordedEvent[] = [];
    const consumer = (async () => {
      for await (const event of subscription) received.push(event);
    })();
    // The subscriber is at the head, so the next commit is kept as it is written, before anyone reads it.
    await store.append('user-default:a', [newEvent('Kept', { n: 1, nested: { list: [1, 'two', null] } }), newEvent('Kept', { n: 2 })]);
    expect(store.keptEvents).toBe(2);

    // Appends sharing commits, some of them written only in part (ids already stored) or refused
    // (wrong expected revision): whatever is kept must be what the log holds.
    const known = newEvent('Known', { n: 'known' });
    await store.append('user-default:b', [known]);
    const appends = [];
    for (let i = 0; i < 60; i++) {
      const stream = `user-default:${['a', 'b', 'c'][i % 3]}`;
      if (i % 10 === 5) appends.push(store.append('user-default:b', [known, newEvent('AfterKnown', { i })]));
      else if (i % 10 === 7) appends.push(store.append(stream, [newEvent('Refused', { i })], { expectedRevision: 1000 }).catch(() => undefined));
      else appends.push(store.append(stream, [newEvent('Concurrent', { i, text: 'é\u2028"q"' }), newEvent('Concurrent', { i, second: true })]));
    }
    await Promise.all(appends);
    const head = await store.headPosition();
    while (received.at(-1)?.position !== head) await new Promise((resolve) => setTimeout(resolve, 5));

    const fresh = new SqliteEventStore({ path: join(folder, 'events.sqlite'), readonly: true });
    try {
      const logged = await fresh.readAll({ fromPosition: start + 1 });
      expect(received).toEqual(logged);
    } finally {
      await fresh.close();
    }
    await subscription.stop();
    await consumer;
  } finally {
    await store.close();
    rmSync(folder, { recursive: true, force: true });
  }
});

it('answers reads past the end of the log or of a stream as empty, and everything up to it from the log', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'herald-recent-'));
  const path = join(folder, 'events.sqlite');
  const first = new SqliteEventStore({ path });
  await first.append('user-default:a', [newEvent('Before', { n: 1 }), newEvent('Before', { n: 2 })]);
  await first.close();
  // Opened on an existing log: its head is the file's, so a new subscriber reads those events.
  const store = new SqliteEventStore({ path });
  try {
    const subscription = store.subscribeToAll({ afterPosition: 0 });
    const received: RecordedEvent[] = [];
    const consumer = (async () => {
      for await (const event of subscription) received.push(event);
    })();
    const known = newEvent('Known');
    await store.append('user-default:b', [known]);
    // New, then an id already stored: the new event's position is the head, although the last event's is older.
    await store.append('user-default:b', [newEvent('AfterKnown'), known]);
    const head = await store.headPosition();
    while (received.at(-1)?.position !== head) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(received.map((event) => event.type)).toEqual(['Before', 'Before', 'Known', 'AfterKnown']);
    expect(await store.readAll({ fromPosition: head + 1 })).toEqual([]);

    // A forward read past the stream's last revision is empty; from it, it has the last event. For
    // a stream this store appended to, and for one written before it was opened.
    expect(await store.readStream('user-default:b', { fromRevision: 2 })).toEqual([]);
    expect(await store.readStream('user-default:a', { fromRevision: 2 })).toEqual([]);
    expect((await store.readStream('user-default:a', { fromRevision: 1 })).map((event) => event.data)).toEqual([{ n: 2 }]);
    expect((await store.readStream('user-default:b', { fromRevision: 1 })).map((event) => event.type)).toEqual(['AfterKnown']);
    expect((await store.readStream('user-default:b', { direction: 'backwards' })).map((event) => event.type)).toEqual(['AfterKnown', 'Known']);
    await subscription.stop();
    await consumer;
  } finally {
    await store.close();
    rmSync(folder, { recursive: true, force: true });
  }
});
